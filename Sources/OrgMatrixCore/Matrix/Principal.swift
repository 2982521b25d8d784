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

    /// Whether the role may do `action` at all; the one table the API checks before it reads a
    /// request's body, and the Store checks again before it writes.
    public func may(_ action: Action) -> Bool {
        switch action {
        case .postDocuments, .endorse, .readPrivateValues: canWrite
        case .administer, .trueUpTransfers, .settleClaims, .cutCheckpoints: self == .hqAdmin
        case .readAuditLog, .verifyLedger: self == .hqAdmin || self == .auditor
        }
    }
}

/// What a request asks to do, as authorization sees it (reads need no more than a sandbox).
public enum Action: Sendable, Hashable, CustomStringConvertible {
    /// Post purchases, sales, counts and transfers of the acting (physical) org.
    case postDocuments
    /// Maintain the matrix, principals and the item catalogue.
    case administer
    case trueUpTransfers
    /// Endorse or dispute a ledger transaction for the acting org (any org, virtual ones too:
    /// a settlement org or HQ endorses what it settles or decides).
    case endorse
    /// Settle a received transfer's claim against the carrier or insurer (HQ, like the true-up).
    case settleClaims
    case readAuditLog
    /// Cut a ledger checkpoint on demand (the sealer cuts each quarter's).
    case cutCheckpoints
    /// Verify the whole tenant's ledger (it reads every ledger row, so only the roles that see the tenant).
    case verifyLedger
    /// Read a ledger transaction's private values (a carrier's contract price): its parties'
    /// operators and integrations, and HQ's administrators; never an auditor or a supervisor.
    case readPrivateValues

    public var description: String {
        switch self {
        case .postDocuments: "post documents"
        case .administer: "administer the tenant (orgs, relations, principals, items)"
        case .trueUpTransfers: "true up transfers"
        case .endorse: "endorse or dispute ledger transactions"
        case .settleClaims: "settle transfer claims"
        case .readAuditLog: "read the audit log"
        case .cutCheckpoints: "cut ledger checkpoints"
        case .verifyLedger: "verify the ledger"
        case .readPrivateValues: "read private values of ledger transactions"
        }
    }
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
