import SMCrypto

/// A value a party must not show every auditor (docs/LEDGER.md, "Private fields"). The signed
/// transaction holds only its commitment, SM3(salt ‖ value) under `private.<field>`, so every
/// signature verifies with or without the value; the value and its salt are stored sealed and
/// travel in a bundle only when it is exported `--with-private`. The salt is secret and random:
/// with a visible or guessable salt anyone could try every plausible price against the commitment.
public enum LedgerPrivateField: String, Sendable, Hashable, CaseIterable, Comparable {
    /// The carrier's name as its contract states it (text).
    case carrierName = "carrier_name"
    /// The price agreed in the carrier's contract for this shipment (fen).
    case carrierContractPriceFen = "carrier_contract_price_fen"

    /// Text of 1…200 characters (code points, as JSON Schema counts), no control characters; or an
    /// amount in fen, 0…`Bounds.amountFenMax`.
    public enum Kind: Sendable, Hashable {
        case text
        case amountFen
    }

    public static let textCharactersMax = 200

    public var kind: Kind {
        switch self {
        case .carrierName: .text
        case .carrierContractPriceFen: .amountFen
        }
    }

    /// The transaction types that may carry it: the dispatch, whose carrier it is.
    public func isAllowed(in type: LedgerTransactionType) -> Bool { type == .transferDispatched }

    /// Why `value` is not a value of this field, or nil when it is.
    public func problem(with value: JSONValue) -> String? {
        switch (kind, value) {
        case (.text, .string(let text)):
            let count = text.unicodeScalars.count
            if count < 1 || count > Self.textCharactersMax { return "must be 1–\(Self.textCharactersMax) characters" }
            if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                return "must not contain control characters"
            }
            return nil
        case (.amountFen, .integer(let fen)):
            return (0...Bounds.amountFenMax).contains(fen) ? nil : "must be 0–\(Bounds.amountFenMax) fen"
        case (.text, _): return "must be a string"
        case (.amountFen, _): return "must be an integer (fen)"
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One private value with its salt: what is sealed at rest, handed to the transaction's parties,
/// and written to `<field>.private` in a bundle as its preimage.
public struct LedgerPrivateValue: Sendable, Equatable {
    public static let saltByteCount = 16

    public let field: LedgerPrivateField
    public let value: JSONValue
    public let salt: [UInt8]

    /// A value of `field` under `salt` (`saltByteCount` random bytes the caller draws: Core does
    /// no I/O); the field's problem with the value otherwise.
    public init(field: LedgerPrivateField, value: JSONValue, salt: [UInt8]) throws(LedgerDocumentError) {
        if let problem = field.problem(with: value) { throw .malformed(field: "private.\(field.rawValue)", reason: problem) }
        guard salt.count == Self.saltByteCount else { throw .malformed(field: "salt", reason: "must be \(Self.saltByteCount) bytes") }
        (self.field, self.value, self.salt) = (field, value, salt)
    }

    /// salt ‖ the value's canonical JSON (RFC 8785): the bytes the commitment digests.
    public var preimage: [UInt8] { salt + CanonicalJSON.encode(value) }

    /// SM3(preimage), as the transaction's `private.<field>` states it.
    public var commitment: LedgerHash { .of(preimage) }

    /// The value `preimage` holds: `saltByteCount` bytes, then exactly one canonical JSON value of the field's kind.
    public init(field: LedgerPrivateField, preimage: [UInt8]) throws(LedgerDocumentError) {
        let name = "private.\(field.rawValue)"
        guard preimage.count > Self.saltByteCount else {
            throw .malformed(field: name, reason: "must be a \(Self.saltByteCount)-byte salt followed by the value")
        }
        let value = try CanonicalJSON.document(Array(preimage[Self.saltByteCount...]))
        if let problem = field.problem(with: value) { throw .malformed(field: name, reason: problem) }
        (self.field, self.value, self.salt) = (field, value, Array(preimage[..<Self.saltByteCount]))
    }

    /// What a verifier finds wrong with the values a bundle carries for `transaction`: each must
    /// be committed by it, its preimage must digest to that commitment and hold a value of its
    /// field. Values left out are no failure unless `complete` (a bundle exported
    /// `--with-private` says it holds them all): a bundle may be exported without them.
    public static func failures(
        _ transaction: LedgerTransaction, hash: LedgerHash, preimages: [LedgerPrivateField: [UInt8]], complete: Bool = false
    ) -> [LedgerVerificationFailure] {
        var failures: [LedgerVerificationFailure] = []
        if complete {
            for field in transaction.privateCommitments.keys.sorted() where preimages[field] == nil {
                failures.append(
                    .init(
                        .privateValueMismatch, transaction: hash, field: "private.\(field.rawValue)",
                        expected: "the value of private.\(field.rawValue) (the bundle was exported with private values)", found: "no such file"))
            }
        }
        for (field, preimage) in preimages.sorted(by: { $0.key < $1.key }) {
            let name = "private.\(field.rawValue)"
            guard let commitment = transaction.privateCommitments[field] else {
                failures.append(
                    .init(
                        .privateValueMismatch, transaction: hash, field: name, expected: "a value the transaction commits to",
                        found: "a value of \(field.rawValue), which it does not commit to"))
                continue
            }
            let digest = LedgerHash.of(preimage)
            if digest != commitment {
                failures.append(.init(.privateValueMismatch, transaction: hash, field: name, expected: commitment.hex, found: digest.hex))
                continue
            }
            do { _ = try LedgerPrivateValue(field: field, preimage: preimage) } catch {
                failures.append(
                    .init(
                        .privateValueMalformed, transaction: hash, field: name,
                        expected: "a \(saltByteCount)-byte salt and a canonical JSON value of \(field.rawValue)", found: error.fieldAndReason.reason))
            }
        }
        return failures
    }
}
