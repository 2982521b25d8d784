/// What a principal (a person's or a system's API key) may do inside its acting org's sandbox.
public enum PrincipalRole: String, Sendable, Hashable, CaseIterable {
    /// Reads the whole tenant below HQ, administers the matrix and principals, writes HQ's own rows.
    case hqAdmin = "hq_admin"
    /// Reads its org and what lies below it; writes its own org's rows.
    case orgOperator = "org_operator"
    /// Reads the orgs its supervisory org supervises; writes nothing.
    case supervisor
    /// Reads (the ledger, the audit log); writes nothing.
    case auditor
    /// Another system acting for one org, like an operator.
    case integration

    /// Whether the role may write rows of its acting org.
    public var canWrite: Bool { self == .hqAdmin || self == .orgOperator || self == .integration }
}

/// A principal as a tenant file declares it.
public struct PrincipalSpec: Sendable, Hashable {
    public let name: PrincipalName
    public let org: OrgCode
    public let role: PrincipalRole

    public init(name: PrincipalName, org: OrgCode, role: PrincipalRole) {
        self.name = name
        self.org = org
        self.role = role
    }
}
