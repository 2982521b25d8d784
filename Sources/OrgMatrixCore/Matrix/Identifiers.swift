import Foundation

/// A tenant: one corporate group. Every row of every table carries it.
public struct TenantID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UUID
    public init(_ rawValue: UUID) { self.rawValue = rawValue }
    public var description: String { rawValue.uuidString.lowercased() }
}

/// A tenant's short code (`dairy`): lower-case letters, digits and dashes.
public struct TenantCode: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws(MatrixProblem) {
        guard ASCIIShape.isLowerCode(rawValue) else {
            throw MatrixProblem(field: "tenant.code", reason: "must be 2–63 lower-case letters, digits or dashes, starting with a letter")
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The database's id of an organization, unique within its tenant.
public struct OrgID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An organization's code within its tenant (`SJZ-FW`): what people and files use.
public struct OrgCode: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String, field: String = "code") throws(MatrixProblem) {
        guard ASCIIShape.isUpperCode(rawValue) else {
            throw MatrixProblem(field: field, reason: "must be 2–40 upper-case letters, digits or dashes, starting with a letter")
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A principal's name within its tenant (`sjz-operator`).
public struct PrincipalName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String, field: String = "name") throws(MatrixProblem) {
        guard ASCIIShape.isLowerCode(rawValue) else {
            throw MatrixProblem(field: field, reason: "must be 2–63 lower-case letters, digits or dashes, starting with a letter")
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A problem with tenant data, naming the field (as a path such as `relations[3].from`) and why.
public struct MatrixProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// Every problem found at once, so a tenant file can be fixed in one pass.
public struct MatrixInvalid: Error, Sendable, CustomStringConvertible {
    public let problems: [MatrixProblem]
    public init(_ problems: [MatrixProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
