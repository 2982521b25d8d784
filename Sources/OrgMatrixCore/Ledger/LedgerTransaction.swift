import SMCrypto

/// The events the ledger evidences (docs/LEDGER.md, "Transaction types").
public enum LedgerTransactionType: String, Sendable, Hashable, CaseIterable {
    case pricingRulesPublished = "pricing.rules_published"
    case keyRegistered = "key.registered"
    case keyRevoked = "key.revoked"
    case transferDispatched = "transfer.dispatched"
    case transferReceived = "transfer.received"
    case transferTruedUp = "transfer.trued_up"
    case claimSettled = "claim.settled"

    /// Whether the transaction evidences a step of one transfer, whose lane gives its roles.
    public var isTransferStep: Bool {
        switch self {
        case .transferDispatched, .transferReceived, .transferTruedUp, .claimSettled: true
        case .pricingRulesPublished, .keyRegistered, .keyRevoked: false
        }
    }
}

/// An SM3 digest, written as 64 lowercase hex digits.
public struct LedgerHash: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public static let zero = LedgerHash(unchecked: [UInt8](repeating: 0, count: SM3.digestByteCount))

    public init(_ bytes: [UInt8]) throws(LedgerDocumentError) {
        guard bytes.count == SM3.digestByteCount else { throw .malformed(field: "hash", reason: "must be \(SM3.digestByteCount) bytes") }
        self.bytes = bytes
    }

    private init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// The hash of `bytes`.
    public static func of(_ bytes: [UInt8]) -> LedgerHash { LedgerHash(unchecked: SM3.hash(bytes)) }

    /// The hash `hex` names: exactly 64 lowercase hex digits.
    public init(hex: String, field: String = "hash") throws(LedgerDocumentError) {
        guard hex.utf8.count == 2 * SM3.digestByteCount, hex.utf8.allSatisfy(ASCIIShape.isLowerHexDigit),
            let bytes = try? Hex.decode(hex)
        else { throw .malformed(field: field, reason: "must be 64 lowercase hex digits") }
        self.bytes = bytes
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// Why bytes are not a ledger transaction or header; every case names the field.
public enum LedgerDocumentError: Error, Sendable, Hashable, CustomStringConvertible {
    case notCanonical(String)
    case missing(field: String)
    case malformed(field: String, reason: String)
    /// The `policy` field, with the path inside it.
    case policy(EndorsementPolicyError)

    public var description: String {
        switch self {
        case .notCanonical(let reason): "not canonical JSON (RFC 8785): \(reason)"
        case .missing(let field): "\(field): missing"
        case .malformed(let field, let reason): "\(field): \(reason)"
        case .policy(let error): error.description
        }
    }
}

/// One ledger transaction (docs/LEDGER.md, "Transaction envelope"): who must endorse it, under
/// which policy, and the event itself. Its canonical bytes are what every endorser signs and
/// what `hash` digests.
public struct LedgerTransaction: Sendable, Equatable {
    public static let formatVersion: Int64 = 1

    public let type: LedgerTransactionType
    public let tenant: TenantCode
    public let at: UTCMicros
    /// Every role of the policy that resolved to an org at `at`.
    public let endorsers: [EndorserRole: OrgCode]
    public let policy: EndorsementPolicy
    public let body: JSONValue
    /// The commitments to its private values (`LedgerPrivateValue`), by field; the member
    /// `private` is left out when there are none, so a transaction without any is what it was
    /// before private fields.
    public let privateCommitments: [LedgerPrivateField: LedgerHash]

    public init(
        type: LedgerTransactionType, tenant: TenantCode, at: UTCMicros, endorsers: [EndorserRole: OrgCode], policy: EndorsementPolicy,
        body: JSONValue, privateCommitments: [LedgerPrivateField: LedgerHash] = [:]
    ) {
        (self.type, self.tenant, self.at, self.endorsers, self.policy, self.body) = (type, tenant, at, endorsers, policy, body)
        self.privateCommitments = privateCommitments
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "version": .integer(Self.formatVersion),
            "type": .string(type.rawValue),
            "tenant": .string(tenant.rawValue),
            "at": .string(at.description),
            "endorsers": .object(Dictionary(uniqueKeysWithValues: endorsers.map { ($0.key.rawValue, .string($0.value.rawValue)) })),
            "policy": policy.json,
            "body": body,
        ]
        if !privateCommitments.isEmpty {
            members["private"] = .object(Dictionary(uniqueKeysWithValues: privateCommitments.map { ($0.key.rawValue, .string($0.value.hex)) }))
        }
        return .object(members)
    }

    public var canonicalBytes: [UInt8] { CanonicalJSON.encode(json) }

    public var hash: LedgerHash { .of(canonicalBytes) }

    /// The orgs that may endorse: the resolved roles the policy names.
    public func role(of org: OrgCode) -> Set<EndorserRole> {
        Set(endorsers.filter { $0.value == org && policy.roles.contains($0.key) }.map(\.key))
    }

    /// Whether endorsements by `orgs` commit it.
    public func isCommitted(byEndorsementsOf orgs: Set<OrgCode>) -> Bool {
        policy.isSatisfied(by: Set(endorsers.filter { orgs.contains($0.value) }.map(\.key)))
    }

    /// The transaction `bytes` hold, which must be exactly their canonical form.
    public init(canonicalBytes bytes: [UInt8]) throws(LedgerDocumentError) {
        let value = try CanonicalJSON.document(bytes)
        let hasPrivate = if case .object(let members) = value { members["private"] != nil } else { false }
        let fields = try LedgerFields(
            value, expected: Set(["version", "type", "tenant", "at", "endorsers", "policy", "body"] + (hasPrivate ? ["private"] : [])))
        guard try fields.integer("version") == Self.formatVersion else {
            throw .malformed(field: "version", reason: "must be \(Self.formatVersion)")
        }
        let typeName = try fields.string("type")
        guard let type = LedgerTransactionType(rawValue: typeName) else { throw .malformed(field: "type", reason: "\(typeName) is not a known type") }
        let tenantText = try fields.string("tenant")
        guard let tenant = try? TenantCode(tenantText) else { throw .malformed(field: "tenant", reason: "\(tenantText) is not a tenant code") }
        guard let at = UTCMicros(try fields.string("at")) else { throw .malformed(field: "at", reason: "must be UTC time like 2026-12-02T03:19:37.123456Z") }
        guard case .object(let members) = try fields.value("endorsers") else { throw .malformed(field: "endorsers", reason: "must be an object") }
        var endorsers: [EndorserRole: OrgCode] = [:]
        for (name, org) in members {
            guard let role = EndorserRole(rawValue: name) else { throw .malformed(field: "endorsers.\(name)", reason: "is not a role") }
            guard case .string(let code) = org, let orgCode = try? OrgCode(code) else {
                throw .malformed(field: "endorsers.\(name)", reason: "must be an org code")
            }
            endorsers[role] = orgCode
        }
        let policyJSON = try fields.value("policy")
        let policy: EndorsementPolicy
        do { policy = try EndorsementPolicy(json: policyJSON) } catch { throw .policy(error) }
        var commitments: [LedgerPrivateField: LedgerHash] = [:]
        if hasPrivate {
            guard case .object(let members) = try fields.value("private"), !members.isEmpty else {
                throw .malformed(field: "private", reason: "must be an object naming at least one field (left out when there is none)")
            }
            for (name, commitment) in members {
                guard let field = LedgerPrivateField(rawValue: name) else {
                    throw .malformed(field: "private.\(name)", reason: "is not a private field")
                }
                guard field.isAllowed(in: type) else {
                    throw .malformed(field: "private.\(name)", reason: "is not a private field of \(type.rawValue)")
                }
                guard case .string(let hex) = commitment else { throw .malformed(field: "private.\(name)", reason: "must be a string") }
                commitments[field] = try LedgerHash(hex: hex, field: "private.\(name)")
            }
        }
        self.init(
            type: type, tenant: tenant, at: at, endorsers: endorsers, policy: policy, body: try fields.value("body"),
            privateCommitments: commitments)
    }
}

/// The members of a ledger object, read by name with errors that name the field.
public struct LedgerFields: Sendable {
    public let members: [String: JSONValue]
    public let path: String

    /// `value` must be an object with exactly the `expected` keys.
    public init(_ value: JSONValue, expected: Set<String>, path: String = "") throws(LedgerDocumentError) {
        guard case .object(let members) = value else { throw .malformed(field: path.isEmpty ? "the document" : path, reason: "must be an object") }
        self.members = members
        self.path = path
        for key in expected.subtracting(members.keys).sorted() { throw .missing(field: name(key)) }
        for key in Set(members.keys).subtracting(expected).sorted() { throw .malformed(field: name(key), reason: "is not a field of this document") }
    }

    public func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func value(_ key: String) throws(LedgerDocumentError) -> JSONValue {
        guard let value = members[key] else { throw .missing(field: name(key)) }
        return value
    }

    public func integer(_ key: String) throws(LedgerDocumentError) -> Int64 {
        guard case .integer(let number) = try value(key) else { throw .malformed(field: name(key), reason: "must be an integer") }
        return number
    }

    public func string(_ key: String) throws(LedgerDocumentError) -> String {
        guard case .string(let text) = try value(key) else { throw .malformed(field: name(key), reason: "must be a string") }
        return text
    }

    public func hash(_ key: String) throws(LedgerDocumentError) -> LedgerHash {
        try LedgerHash(hex: try string(key), field: name(key))
    }

    public func moment(_ key: String) throws(LedgerDocumentError) -> UTCMicros {
        guard let moment = UTCMicros(try string(key)) else {
            throw .malformed(field: name(key), reason: "must be UTC time like 2026-12-02T03:19:37.123456Z")
        }
        return moment
    }
}
