/// A part an org plays in one transaction, resolved from the matrix at the transaction's time.
public enum EndorserRole: String, Sendable, Hashable, CaseIterable, Comparable {
    case sender
    case receiver
    case senderSettlement = "sender_settlement"
    case receiverSettlement = "receiver_settlement"
    case hq
    case carrier

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Which endorsements make a transaction committed, in the Fabric style a tenant file writes:
/// `AND(receiver, sender)`, `OR(hq, sender_settlement)`, `OutOf(2, sender, receiver, carrier)`,
/// nested freely. A transaction carries its policy as data (`json`), so a verifier needs no
/// tenant file to check it.
public indirect enum EndorsementPolicy: Sendable, Hashable, CustomStringConvertible {
    case role(EndorserRole)
    case all([EndorsementPolicy])
    case any([EndorsementPolicy])
    case outOf(Int, [EndorsementPolicy])

    /// Policies are short; this bounds what a tenant file or a transaction may nest.
    public static let depthMax = 8

    /// Whether endorsements by the orgs playing `endorsed` satisfy the policy.
    public func isSatisfied(by endorsed: Set<EndorserRole>) -> Bool {
        switch self {
        case .role(let role): endorsed.contains(role)
        case .all(let parts): parts.allSatisfy { $0.isSatisfied(by: endorsed) }
        case .any(let parts): parts.contains { $0.isSatisfied(by: endorsed) }
        case .outOf(let needed, let parts): parts.count { $0.isSatisfied(by: endorsed) } >= needed
        }
    }

    /// Every role the policy names: the orgs that may endorse a transaction under it.
    public var roles: Set<EndorserRole> {
        switch self {
        case .role(let role): [role]
        case .all(let parts), .any(let parts), .outOf(_, let parts): parts.reduce(into: []) { $0.formUnion($1.roles) }
        }
    }

    /// The policy as a tenant file writes it, normalized (`AND(receiver, sender)`).
    public var description: String {
        switch self {
        case .role(let role): role.rawValue
        case .all(let parts): "AND(\(parts.map(\.description).joined(separator: ", ")))"
        case .any(let parts): "OR(\(parts.map(\.description).joined(separator: ", ")))"
        case .outOf(let needed, let parts): "OutOf(\(needed), \(parts.map(\.description).joined(separator: ", ")))"
        }
    }

    /// The policy as a transaction carries it (docs/LEDGER.md): a role is its name,
    /// `{"AND":[…]}`, `{"OR":[…]}`, `{"OutOf":{"n":k,"of":[…]}}`.
    public var json: JSONValue {
        switch self {
        case .role(let role): .string(role.rawValue)
        case .all(let parts): .object(["AND": .array(parts.map(\.json))])
        case .any(let parts): .object(["OR": .array(parts.map(\.json))])
        case .outOf(let needed, let parts): .object(["OutOf": .object(["n": .integer(Int64(needed)), "of": .array(parts.map(\.json))])])
        }
    }

    /// The policy a transaction's `policy` field holds; `path` names the field in errors.
    public init(json: JSONValue, path: String = "policy") throws(EndorsementPolicyError) {
        self = try Self.decode(json, path: path, depth: 1)
    }

    private static func decode(_ json: JSONValue, path: String, depth: Int) throws(EndorsementPolicyError) -> EndorsementPolicy {
        guard depth <= depthMax else { throw .tooDeep(path: path) }
        switch json {
        case .string(let name):
            guard let role = EndorserRole(rawValue: name) else { throw .unknownRole(name, path: path) }
            return .role(role)
        case .object(let members) where members.count == 1:
            let (operator_, operand) = members.first!
            switch (operator_, operand) {
            case ("AND", .array(let parts)), ("OR", .array(let parts)):
                guard !parts.isEmpty else { throw .malformed(path: "\(path).\(operator_)", reason: "needs at least one part") }
                var decoded: [EndorsementPolicy] = []
                for (index, part) in parts.enumerated() {
                    decoded.append(try decode(part, path: "\(path).\(operator_)[\(index)]", depth: depth + 1))
                }
                return operator_ == "AND" ? .all(decoded) : .any(decoded)
            case ("OutOf", .object(let fields)) where Set(fields.keys) == ["n", "of"]:
                guard case .integer(let needed)? = fields["n"], case .array(let parts)? = fields["of"] else {
                    throw .malformed(path: "\(path).OutOf", reason: "needs an integer n and an array of")
                }
                var decoded: [EndorsementPolicy] = []
                for (index, part) in parts.enumerated() {
                    decoded.append(try decode(part, path: "\(path).OutOf.of[\(index)]", depth: depth + 1))
                }
                guard needed >= 1, needed <= decoded.count else {
                    throw .malformed(path: "\(path).OutOf.n", reason: "must be 1–\(decoded.count), the number of parts")
                }
                return .outOf(Int(needed), decoded)
            default:
                throw .malformed(path: path, reason: "must be a role, {\"AND\":[…]}, {\"OR\":[…]} or {\"OutOf\":{\"n\":k,\"of\":[…]}}")
            }
        default:
            throw .malformed(path: path, reason: "must be a role, {\"AND\":[…]}, {\"OR\":[…]} or {\"OutOf\":{\"n\":k,\"of\":[…]}}")
        }
    }

    /// Parses the text a tenant file writes; errors give the character offset.
    public static func parse(_ text: String) throws(EndorsementPolicyError) -> EndorsementPolicy {
        var parser = PolicyParser(Array(text.unicodeScalars))
        let policy = try parser.policy(depth: 1)
        parser.skipSpaces()
        guard parser.position == parser.scalars.count else { throw .syntax(offset: parser.position, reason: "text after the policy") }
        return policy
    }
}

public enum EndorsementPolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    case syntax(offset: Int, reason: String)
    case unknownRole(String, path: String)
    case malformed(path: String, reason: String)
    case tooDeep(path: String)

    public var description: String {
        let roles = EndorserRole.allCases.map(\.rawValue).joined(separator: ", ")
        return switch self {
        case .syntax(let offset, let reason): "at character \(offset): \(reason)"
        case .unknownRole(let name, let path): "\(path): \(name) is not a role (roles: \(roles))"
        case .malformed(let path, let reason): "\(path): \(reason)"
        case .tooDeep(let path): "\(path): nested deeper than \(EndorsementPolicy.depthMax)"
        }
    }
}

/// Recursive descent over `AND(…)`, `OR(…)`, `OutOf(n, …)` and role names.
private struct PolicyParser {
    let scalars: [Unicode.Scalar]
    var position = 0

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    mutating func skipSpaces() {
        while position < scalars.count, scalars[position] == " " || scalars[position] == "\t" { position += 1 }
    }

    mutating func word() -> String {
        let start = position
        while position < scalars.count, scalars[position].properties.isAlphabetic || scalars[position] == "_"
            || ("0"..."9").contains(scalars[position])
        {
            position += 1
        }
        return String(String.UnicodeScalarView(scalars[start..<position]))
    }

    mutating func expect(_ scalar: Unicode.Scalar, _ reason: String) throws(EndorsementPolicyError) {
        skipSpaces()
        guard position < scalars.count, scalars[position] == scalar else { throw .syntax(offset: position, reason: reason) }
        position += 1
    }

    mutating func policy(depth: Int) throws(EndorsementPolicyError) -> EndorsementPolicy {
        skipSpaces()
        let start = position
        guard depth <= EndorsementPolicy.depthMax else { throw .syntax(offset: start, reason: "nested deeper than \(EndorsementPolicy.depthMax)") }
        let name = word()
        guard !name.isEmpty else { throw .syntax(offset: start, reason: "a role, AND(…), OR(…) or OutOf(n, …) was expected") }
        skipSpaces()
        let opens = position < scalars.count && scalars[position] == "("
        switch name {
        case "AND" where opens, "OR" where opens:
            position += 1
            let parts = try list(depth: depth)
            return name == "AND" ? .all(parts) : .any(parts)
        case "OutOf" where opens:
            position += 1
            skipSpaces()
            let numberStart = position
            let digits = word()
            guard let needed = Int(digits), digits.allSatisfy(\.isASCII), !digits.hasPrefix("0") else {
                throw .syntax(offset: numberStart, reason: "OutOf needs a count first, like OutOf(2, sender, receiver, hq)")
            }
            try expect(",", "a comma after OutOf's count was expected")
            let parts = try list(depth: depth)
            guard needed <= parts.count else {
                throw .syntax(offset: numberStart, reason: "OutOf(\(needed), …) names only \(parts.count) part(s)")
            }
            return .outOf(needed, parts)
        default:
            guard !opens else { throw .syntax(offset: start, reason: "\(name)(…) is not an operator (AND, OR, OutOf)") }
            guard let role = EndorserRole(rawValue: name) else {
                throw .syntax(offset: start, reason: "\(name) is not a role (roles: \(EndorserRole.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .role(role)
        }
    }

    /// Parts up to the closing parenthesis; at least one.
    mutating func list(depth: Int) throws(EndorsementPolicyError) -> [EndorsementPolicy] {
        var parts = [try policy(depth: depth + 1)]
        while true {
            skipSpaces()
            guard position < scalars.count else { throw .syntax(offset: position, reason: "a closing parenthesis was expected") }
            if scalars[position] == ")" {
                position += 1
                return parts
            }
            try expect(",", "a comma or a closing parenthesis was expected")
            parts.append(try policy(depth: depth + 1))
        }
    }
}
