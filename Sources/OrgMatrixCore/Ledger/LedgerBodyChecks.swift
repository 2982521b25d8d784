/// What a body check may consult besides the transaction: the tenant and its key rows.
/// A struct, so later checks can be given more without changing the checks already written.
/// (Checks that need other transactions, like the transfer figures, are not body checks: see
/// `TransferFigureChecks`.)
public struct LedgerBodyContext: Sendable {
    public let tenant: TenantCode
    public let keys: LedgerKeyDirectory
    /// The hash the transaction's row claims: failures are filed under it.
    public let transactionHash: LedgerHash

    public init(tenant: TenantCode, keys: LedgerKeyDirectory, transactionHash: LedgerHash) {
        (self.tenant, self.keys, self.transactionHash) = (tenant, keys, transactionHash)
    }

    /// A failure of this transaction.
    public func failure(_ kind: LedgerVerificationFailure.Kind, field: String, expected: String, found: String)
        -> LedgerVerificationFailure
    {
        LedgerVerificationFailure(kind, transaction: transactionHash, field: field, expected: expected, found: found)
    }

    /// The failure a body that does not parse as its type's body is.
    public func malformedBody(_ error: LedgerDocumentError, expected: String) -> LedgerVerificationFailure {
        let (field, reason) = error.fieldAndReason
        return failure(.bodyMalformed, field: field, expected: expected, found: reason)
    }
}

/// A check of one type's body: pure, given the transaction (already parsed, its envelope and
/// endorsements checked by the verifier) and the context; it returns every failure it finds.
public typealias LedgerBodyCheck = @Sendable (LedgerTransaction, LedgerBodyContext) -> [LedgerVerificationFailure]

/// The body checks Core has, by transaction type. The verifier runs the one for each
/// transaction's type; a type without one has its envelope, endorsements and sealing checked only.
public enum LedgerBodyChecks {
    /// Every per-transaction check Core ships, the set the verifier runs unless told otherwise:
    /// the key events'. The pricing and transfer bodies are read by `TransferFigureChecks`,
    /// which needs every transaction of a transfer and runs besides these.
    public static let standard: [LedgerTransactionType: LedgerBodyCheck] = keyEvents

    /// Each key event states exactly a key row (or its revocation), and no key is registered as
    /// valid before its registration.
    public static let keyEvents: [LedgerTransactionType: LedgerBodyCheck] = [
        KeyEvent.Registered.ledgerType: registered,
        KeyEvent.Revoked.ledgerType: revoked,
    ]

    private static func registered(_ transaction: LedgerTransaction, _ context: LedgerBodyContext) -> [LedgerVerificationFailure]
    {
        let event: KeyEvent.Registered
        do { event = try KeyEvent.Registered(ledgerBody: transaction.body) } catch {
            return [context.malformedBody(error, expected: "a key.registered body (docs/LEDGER.md)")]
        }
        var failures: [LedgerVerificationFailure] = []
        if event.validFrom < transaction.at {
            failures.append(
                context.failure(
                    .keyBackdated, field: "body.valid_from", expected: "at or after the transaction's at, \(transaction.at)",
                    found: event.validFrom.description))
        }
        guard let key = context.keys.key(owner: event.owner, version: event.version) else {
            return failures + [
                context.failure(
                    .keyEventWithoutKey, field: "body.key_version", expected: "a key row \(event.owner.name) v\(event.version)",
                    found: "none")
            ]
        }
        let stated = event.ledgerBody
        let stored = key.registration.ledgerBody
        for field in ["custody", "public_key", "valid_from"] where stated[field] != stored[field] {
            failures.append(
                context.failure(
                    .keyEventMismatch, field: "body.\(field)", expected: stored[field]?.text ?? "",
                    found: stated[field]?.text ?? ""))
        }
        return failures
    }

    private static func revoked(_ transaction: LedgerTransaction, _ context: LedgerBodyContext) -> [LedgerVerificationFailure] {
        let event: KeyEvent.Revoked
        do { event = try KeyEvent.Revoked(ledgerBody: transaction.body) } catch {
            return [context.malformedBody(error, expected: "a key.revoked body (docs/LEDGER.md)")]
        }
        guard let key = context.keys.key(owner: event.owner, version: event.version) else {
            return [
                context.failure(
                    .keyEventWithoutKey, field: "body.key_version", expected: "a key row \(event.owner.name) v\(event.version)",
                    found: "none")
            ]
        }
        guard let stored = key.revocationEvent?.ledgerBody else {
            return [
                context.failure(
                    .keyEventMismatch, field: "body.revoked_at", expected: "no revocation (the key row has none)",
                    found: event.revokedAt.description)
            ]
        }
        let stated = event.ledgerBody
        return ["revoked_at", "reason"].filter { stated[$0] != stored[$0] }.map {
            context.failure(
                .keyEventMismatch, field: "body.\($0)", expected: stored[$0]?.text ?? "", found: stated[$0]?.text ?? "")
        }
    }
}

extension JSONValue {
    /// An object's member.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    /// A string's text, anything else as canonical JSON: how failures quote a value.
    var text: String {
        if case .string(let text) = self { return text }
        return String(decoding: CanonicalJSON.encode(self), as: UTF8.self)
    }
}

extension LedgerDocumentError {
    /// The field the error names and why, as a failure states them.
    public var fieldAndReason: (field: String, reason: String) {
        switch self {
        case .notCanonical(let reason): ("canonical_bytes", reason)
        case .missing(let field): (field, "missing")
        case .malformed(let field, let reason): (field, reason)
        case .policy(let error): ("policy", error.description)
        }
    }
}
