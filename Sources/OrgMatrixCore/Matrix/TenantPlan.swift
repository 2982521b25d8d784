import Foundation

/// What the database holds for a tenant, as `tenant apply` reads it.
public struct TenantSnapshot: Sendable {
    public struct StoredRelation: Sendable, Hashable {
        public let id: Int64
        public let relation: Relation
        public init(id: Int64, relation: Relation) {
            self.id = id
            self.relation = relation
        }
    }

    public struct StoredPrincipal: Sendable, Hashable {
        public let id: Int64
        public let spec: PrincipalSpec
        public init(id: Int64, spec: PrincipalSpec) {
            self.id = id
            self.spec = spec
        }
    }

    public let name: String
    public let orgs: [Org]
    /// Every relation ever stored, ended ones included.
    public let relations: [StoredRelation]
    /// Principals not revoked.
    public let principals: [StoredPrincipal]
    /// Pricing rule versions stored so far, as written.
    public let pricing: [TenantFile.PricingEntry]
    /// The ledger settings in force (the latest version stored), if any.
    public let ledger: LedgerDefinition?
    /// The owners that have a key (any version, revoked or not).
    public let keyOwners: Set<KeyOwner>

    public init(
        name: String, orgs: [Org], relations: [StoredRelation], principals: [StoredPrincipal], pricing: [TenantFile.PricingEntry] = [],
        ledger: LedgerDefinition? = nil, keyOwners: Set<KeyOwner> = []
    ) {
        self.name = name
        self.orgs = orgs
        self.relations = relations
        self.principals = principals
        self.pricing = pricing
        self.ledger = ledger
        self.keyOwners = keyOwners
    }
}

/// One step that brings the database closer to a tenant file. Nothing is ever deleted:
/// relations are end-dated and principals revoked, so history stays.
public enum TenantChange: Sendable, Hashable, CustomStringConvertible {
    case createTenant(name: String)
    case renameTenant(name: String)
    case createOrg(Org)
    case updateOrg(Org)
    case endRelation(id: Int64, Relation, at: Date)
    case createRelation(Relation)
    case revokePrincipal(id: Int64, PrincipalSpec)
    case createPrincipal(PrincipalSpec)
    case createPricing(PricingVersion)
    /// A new version of the ledger settings, in force from the apply on.
    case setLedger(LedgerDefinition)
    /// A custodial key (version 1) for an owner that has none.
    case generateKey(KeyOwner)

    public var description: String {
        switch self {
        case .createTenant(let name): "create tenant \(name)"
        case .renameTenant(let name): "rename tenant to \(name)"
        case .createOrg(let org): "create org \(org.code) \(org.name) (\(org.kind.rawValue))"
        case .updateOrg(let org): "update org \(org.code) (name, roles or location)"
        case .endRelation(_, let relation, let at):
            "end \(relation.kind.rawValue) \(relation.from) → \(relation.to) at \(at.formatted(.iso8601))"
        case .createRelation(let relation):
            "create \(relation.kind.rawValue) \(relation.from) → \(relation.to) from \(relation.validFrom.formatted(.iso8601))"
        case .revokePrincipal(_, let spec): "revoke principal \(spec.name) (\(spec.role.rawValue) at \(spec.org))"
        case .createPrincipal(let spec): "create principal \(spec.name) (\(spec.role.rawValue) at \(spec.org))"
        case .createPricing(let version):
            "add pricing rules \(version.rules.version) effective \(version.rules.effectiveFrom)"
        case .setLedger(let ledger):
            "set the ledger settings from now: hq \(ledger.hq), client-held [\(ledger.clientHeld.sorted().map(\.rawValue).joined(separator: ", "))], "
                + "\(ledger.policies.count) policies"
        case .generateKey(let owner): "generate a custodial key (version 1) for \(owner)"
        }
    }
}

/// Computes the changes that make a tenant's stored state match its file.
public enum TenantPlanner {
    public static func plan(current: TenantSnapshot?, desired: TenantDefinition, now: Date) throws(MatrixInvalid) -> [TenantChange] {
        guard let current else {
            return [.createTenant(name: desired.name)] + desired.orgs.map(TenantChange.createOrg)
                + desired.relations.map(TenantChange.createRelation) + desired.principals.map(TenantChange.createPrincipal)
                + desired.pricing.map(TenantChange.createPricing) + ledgerChanges(stored: nil, keyOwners: [], desired: desired)
        }
        var changes: [TenantChange] = []
        if current.name != desired.name { changes.append(.renameTenant(name: desired.name)) }

        var problems: [MatrixProblem] = []
        let currentOrgs = Dictionary(current.orgs.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        let desiredCodes = Set(desired.orgs.map(\.code))
        for org in current.orgs where !desiredCodes.contains(org.code) {
            problems.append(MatrixProblem(
                field: "orgs", reason: "\(org.code) exists in the tenant but not in the file; orgs are never deleted (end their relations instead)"))
        }
        for (index, org) in desired.orgs.enumerated() {
            guard let existing = currentOrgs[org.code] else {
                changes.append(.createOrg(org))
                continue
            }
            if existing.kind != org.kind {
                problems.append(MatrixProblem(field: "orgs[\(index)].kind", reason: "\(org.code) is \(existing.kind.rawValue); an org's kind cannot change"))
            } else if existing != org {
                changes.append(.updateOrg(org))
            }
        }

        var relations = current.relations.map(\.relation)
        var ended: Set<Int64> = []
        for stored in current.relations where stored.relation.isValid(at: now) {
            if !desired.relations.contains(where: { $0.hasSameTerms(as: stored.relation) }) {
                changes.append(.endRelation(id: stored.id, stored.relation, at: now))
                ended.insert(stored.id)
            }
        }
        for (index, stored) in current.relations.enumerated() where ended.contains(stored.id) {
            relations[index].validTo = now
        }
        for relation in desired.relations {
            let sameLink = relations.filter { $0.linkKey == relation.linkKey }
            if sameLink.contains(where: { $0.hasSameTerms(as: relation) && $0.validTo == nil }) { continue }
            let latestEnd = sameLink.compactMap(\.validTo).max()
            let start = latestEnd.map { max($0, relation.validFrom) } ?? relation.validFrom
            let created = Relation(
                kind: relation.kind, from: relation.from, to: relation.to, purpose: relation.purpose, distanceKm: relation.distanceKm,
                leadTimeHours: relation.leadTimeHours, markupBasisPoints: relation.markupBasisPoints, carrier: relation.carrier, validFrom: start)
            changes.append(.createRelation(created))
            relations.append(created)
        }
        problems += OrgMatrix(orgs: desired.orgs, relations: relations).problems()

        let currentPrincipals = Dictionary(current.principals.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        let desiredNames = Set(desired.principals.map(\.name))
        for stored in current.principals where !desiredNames.contains(stored.spec.name) {
            changes.append(.revokePrincipal(id: stored.id, stored.spec))
        }
        for principal in desired.principals {
            if let stored = currentPrincipals[principal.name] {
                if stored.spec == principal { continue }
                changes.append(.revokePrincipal(id: stored.id, stored.spec))
            }
            changes.append(.createPrincipal(principal))
        }
        // Pricing versions are immutable once stored: prices name the version that made them.
        for (index, version) in desired.pricing.enumerated() {
            if let stored = current.pricing.first(where: { $0.version == version.entry.version }) {
                if stored != version.entry {
                    problems.append(MatrixProblem(
                        field: "pricing[\(index)]",
                        reason: "version \(version.entry.version) is stored with other terms; versions never change, add a new one"))
                }
            } else {
                changes.append(.createPricing(version))
            }
        }
        guard problems.isEmpty else { throw MatrixInvalid(problems) }
        return changes + ledgerChanges(stored: current.ledger, keyOwners: current.keyOwners, desired: desired)
    }

    /// With a `ledger:` section: its settings when they differ from those in force, then a
    /// custodial key for every org not client-held that has no key yet, and for the orderer.
    /// Client-held orgs register their own (`orgmatrix keys register`). A file without the
    /// section leaves the stored settings and keys as they are: nothing is ever deleted.
    static func ledgerChanges(stored: LedgerDefinition?, keyOwners: Set<KeyOwner>, desired: TenantDefinition) -> [TenantChange] {
        guard let ledger = desired.ledger else { return [] }
        var changes: [TenantChange] = stored == ledger ? [] : [.setLedger(ledger)]
        let owners = desired.orgs.map(\.code).filter { ledger.custody(of: $0) == .custodial }.map(KeyOwner.org) + [.orderer]
        changes += owners.filter { !keyOwners.contains($0) }.map(TenantChange.generateKey)
        return changes
    }
}
