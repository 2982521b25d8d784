import Foundation

/// A tenant file (`Tenants/*.yaml`) as decoded, before validation: every field a string or
/// integer so that every problem can be reported with its path rather than as a decoding error.
public struct TenantFile: Decodable, Sendable {
    public struct TenantSection: Decodable, Sendable {
        public let code: String
        public let name: String
        public init(code: String, name: String) {
            self.code = code
            self.name = name
        }
    }

    public struct OrgEntry: Decodable, Sendable {
        public let code: String
        public let name: String
        public let kind: String
        public let roles: [String]
        public let location: LocationEntry?
        public init(code: String, name: String, kind: String, roles: [String], location: LocationEntry?) {
            (self.code, self.name, self.kind, self.roles, self.location) = (code, name, kind, roles, location)
        }
    }

    public struct LocationEntry: Decodable, Sendable {
        public let province: String
        public let city: String
        public let county: String
        public let latitude: String
        public let longitude: String
        public init(province: String, city: String, county: String, latitude: String, longitude: String) {
            (self.province, self.city, self.county, self.latitude, self.longitude) = (province, city, county, latitude, longitude)
        }
    }

    public struct RelationEntry: Decodable, Sendable {
        public let kind: String
        public let from: String
        public let to: String
        public let purpose: String?
        public let distanceKm: Int?
        public let leadTimeHours: Int?
        public let markupBasisPoints: Int?
        public let validFrom: String?
        /// A lane's transport org (the ledger's `carrier` role).
        public let carrier: String?

        public init(
            kind: String, from: String, to: String, purpose: String?, distanceKm: Int?, leadTimeHours: Int?, markupBasisPoints: Int? = nil,
            validFrom: String?, carrier: String? = nil
        ) {
            (self.kind, self.from, self.to, self.purpose) = (kind, from, to, purpose)
            (self.distanceKm, self.leadTimeHours, self.markupBasisPoints, self.validFrom) = (distanceKm, leadTimeHours, markupBasisPoints, validFrom)
            self.carrier = carrier
        }

        enum CodingKeys: String, CodingKey {
            case kind, from, to, purpose, carrier
            case distanceKm = "distance_km"
            case leadTimeHours = "lead_time_hours"
            case markupBasisPoints = "markup_bp"
            case validFrom = "valid_from"
        }
    }

    /// The `ledger:` section as written: who plays HQ in endorsement policies, which orgs hold
    /// their own keys, and the policy text per transaction type.
    public struct LedgerEntry: Decodable, Sendable {
        public let hq: String?
        public let clientHeld: [String]?
        public let policies: [String: String]?
        /// Keys the section has but does not know (a typo would otherwise drop a setting silently).
        public let unknownKeys: [String]

        public init(hq: String?, clientHeld: [String]?, policies: [String: String]?) {
            (self.hq, self.clientHeld, self.policies, self.unknownKeys) = (hq, clientHeld, policies, [])
        }

        enum CodingKeys: String, CodingKey {
            case hq, policies
            case clientHeld = "client_held"
        }

        public init(from decoder: any Decoder) throws {
            unknownKeys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
                .filter { CodingKeys(stringValue: $0) == nil }.sorted()
            let container = try decoder.container(keyedBy: CodingKeys.self)
            hq = try container.decodeIfPresent(String.self, forKey: .hq)
            clientHeld = try container.decodeIfPresent([String].self, forKey: .clientHeld)
            policies = try container.decodeIfPresent([String: String].self, forKey: .policies)
        }
    }

    /// Any key of a mapping, to list the ones a section does not know.
    struct AnyKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    public struct PrincipalEntry: Decodable, Sendable {
        public let name: String
        public let org: String
        public let role: String
        public init(name: String, org: String, role: String) {
            (self.name, self.org, self.role) = (name, org, role)
        }
    }

    /// One version of the transfer-pricing rules, as written in the file (and stored as is).
    public struct PricingEntry: Codable, Sendable, Hashable {
        public struct Tier: Codable, Sendable, Hashable {
            public let upToKm: Int?
            public let fenPerTonneKm: Int
            public init(upToKm: Int?, fenPerTonneKm: Int) {
                self.upToKm = upToKm
                self.fenPerTonneKm = fenPerTonneKm
            }
            enum CodingKeys: String, CodingKey {
                case upToKm = "up_to_km"
                case fenPerTonneKm = "fen_per_tonne_km"
            }
        }

        public struct Category: Codable, Sendable, Hashable {
            public let insuranceBasisPoints: Int
            public let lossPartsPerMillion: Int
            public let shortShelfLifeExtraLossPartsPerMillion: Int?
            public init(insuranceBasisPoints: Int, lossPartsPerMillion: Int, shortShelfLifeExtraLossPartsPerMillion: Int?) {
                self.insuranceBasisPoints = insuranceBasisPoints
                self.lossPartsPerMillion = lossPartsPerMillion
                self.shortShelfLifeExtraLossPartsPerMillion = shortShelfLifeExtraLossPartsPerMillion
            }
            enum CodingKeys: String, CodingKey {
                case insuranceBasisPoints = "insurance_bp"
                case lossPartsPerMillion = "loss_ppm"
                case shortShelfLifeExtraLossPartsPerMillion = "short_shelf_life_extra_loss_ppm"
            }
        }

        public let version: String
        public let effectiveFrom: String
        public let freightTiers: [Tier]
        public let categories: [String: Category]
        public let shortShelfLifeDays: Int
        public let expressLeadTimeHoursMax: Int
        public let standardPremiumBasisPoints: Int
        public let expressPremiumBasisPoints: Int
        public let errorTolerancePartsPerMillion: Int?

        public init(
            version: String, effectiveFrom: String, freightTiers: [Tier], categories: [String: Category], shortShelfLifeDays: Int,
            expressLeadTimeHoursMax: Int, standardPremiumBasisPoints: Int, expressPremiumBasisPoints: Int, errorTolerancePartsPerMillion: Int?
        ) {
            (self.version, self.effectiveFrom, self.freightTiers, self.categories) = (version, effectiveFrom, freightTiers, categories)
            (self.shortShelfLifeDays, self.expressLeadTimeHoursMax) = (shortShelfLifeDays, expressLeadTimeHoursMax)
            (self.standardPremiumBasisPoints, self.expressPremiumBasisPoints) = (standardPremiumBasisPoints, expressPremiumBasisPoints)
            self.errorTolerancePartsPerMillion = errorTolerancePartsPerMillion
        }

        enum CodingKeys: String, CodingKey {
            case version
            case effectiveFrom = "effective_from"
            case freightTiers = "freight_tiers"
            case categories
            case shortShelfLifeDays = "short_shelf_life_days"
            case expressLeadTimeHoursMax = "express_lead_time_hours_max"
            case standardPremiumBasisPoints = "standard_premium_bp"
            case expressPremiumBasisPoints = "express_premium_bp"
            case errorTolerancePartsPerMillion = "error_tolerance_ppm"
        }

        /// The rules this entry declares, or the problems with it, each naming its field.
        public func rules(field: String) throws(MatrixInvalid) -> PricingRules {
            guard ASCIIShape.isVersionName(version) else {
                throw MatrixInvalid([MatrixProblem(field: "\(field).version", reason: "must be 1–40 letters, digits, dots, dashes or underscores")])
            }
            guard let effective = UTCMicros(wholeSeconds: effectiveFrom) else {
                throw MatrixInvalid([
                    MatrixProblem(field: "\(field).effective_from", reason: "must be a UTC time in whole seconds, like 2026-01-01T00:00:00Z")
                ])
            }
            let narrow = { (value: Int) in Int32(clamping: value) }
            let rules = PricingRules(
                version: version, effectiveFrom: effective,
                freightTiers: freightTiers.map { .init(upToKm: $0.upToKm.map(narrow), fenPerTonneKm: Int64($0.fenPerTonneKm)) },
                categories: categories.mapValues {
                    .init(
                        insuranceBasisPoints: Int64($0.insuranceBasisPoints), lossPartsPerMillion: Int64($0.lossPartsPerMillion),
                        shortShelfLifeExtraLossPartsPerMillion: Int64($0.shortShelfLifeExtraLossPartsPerMillion ?? 0))
                },
                shortShelfLifeDays: narrow(shortShelfLifeDays), expressLeadTimeHoursMax: narrow(expressLeadTimeHoursMax),
                standardPremiumBasisPoints: Int64(standardPremiumBasisPoints), expressPremiumBasisPoints: Int64(expressPremiumBasisPoints),
                errorTolerancePartsPerMillion: Int64(errorTolerancePartsPerMillion ?? 8000))
            let problems = rules.problems(field: field)
            guard problems.isEmpty else { throw MatrixInvalid(problems) }
            return rules
        }
    }

    public let tenant: TenantSection
    public let orgs: [OrgEntry]
    public let relations: [RelationEntry]
    public let principals: [PrincipalEntry]
    public let pricing: [PricingEntry]?
    public let ledger: LedgerEntry?
    /// Top-level keys the file has but the format does not know (`ledgr:` would otherwise be ignored).
    public let unknownKeys: [String]

    public init(
        tenant: TenantSection, orgs: [OrgEntry], relations: [RelationEntry], principals: [PrincipalEntry], pricing: [PricingEntry]? = nil,
        ledger: LedgerEntry? = nil
    ) {
        (self.tenant, self.orgs, self.relations, self.principals, self.pricing) = (tenant, orgs, relations, principals, pricing)
        (self.ledger, self.unknownKeys) = (ledger, [])
    }

    enum CodingKeys: String, CodingKey {
        case tenant, orgs, relations, principals, pricing, ledger
    }

    public init(from decoder: any Decoder) throws {
        unknownKeys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
            .filter { CodingKeys(stringValue: $0) == nil }.sorted()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tenant = try container.decode(TenantSection.self, forKey: .tenant)
        orgs = try container.decode([OrgEntry].self, forKey: .orgs)
        relations = try container.decode([RelationEntry].self, forKey: .relations)
        principals = try container.decode([PrincipalEntry].self, forKey: .principals)
        pricing = try container.decodeIfPresent([PricingEntry].self, forKey: .pricing)
        ledger = try container.decodeIfPresent(LedgerEntry.self, forKey: .ledger)
    }
}

/// The tenant's ledger settings: the org that plays `hq` in endorsement policies, the orgs that
/// register their own public keys (every other org's key is custodial), and the policy text
/// per transaction type. The texts stay text here; `EndorsementPolicy.parse` reads them.
public struct LedgerDefinition: Sendable, Hashable {
    public let hq: OrgCode
    public let clientHeld: Set<OrgCode>
    /// Transaction type (`transfer.dispatched`) → policy expression (`AND(sender, sender_settlement)`).
    public let policies: [String: String]

    public init(hq: OrgCode, clientHeld: Set<OrgCode>, policies: [String: String]) {
        self.hq = hq
        self.clientHeld = clientHeld
        self.policies = policies
    }

    /// The transaction types of docs/LEDGER.md that a policy can be given for.
    public static let transactionTypes = Set(LedgerTransactionType.allCases.map(\.rawValue))
    /// The longest policy text accepted, in characters: a policy names a handful of roles.
    public static let policyLengthMax = 1000

    /// The policies these settings give each transaction type (the defaults where they name none).
    public var ledgerPolicies: LedgerPolicies {
        LedgerPolicies(overrides: Dictionary(uniqueKeysWithValues: policies.compactMap { type, text in
            LedgerTransactionType(rawValue: type).flatMap { type in (try? EndorsementPolicy.parse(text)).map { (type, $0) } }
        }))
    }

    /// Policies no transaction could ever meet: one naming a role that no org plays (a lane with
    /// no settlement org for its sender, no carrier) would leave every transfer on that lane
    /// pending for ever. Transfer transactions take their roles from a lane (sender, receiver,
    /// their settlement orgs by `settles_for` of the purpose a sale or a purchase needs, the
    /// lane's carrier) and HQ; key and pricing transactions have HQ only. Relations count over
    /// any of their validity windows.
    public func unmetPolicies(relations: [Relation]) -> [MatrixProblem] {
        let policies = ledgerPolicies
        var problems: [MatrixProblem] = []
        for type in LedgerTransactionType.allCases where !type.isTransferStep {
            let policy = policies.policy(for: type)
            if !policy.isSatisfied(by: [.hq]) {
                problems.append(MatrixProblem(
                    field: "ledger.policies.\(type.rawValue)", reason: "cannot be met: a \(type.rawValue) transaction has only the hq role"))
            }
        }
        func settles(_ org: OrgCode, for purpose: SettlementPurpose) -> Bool {
            relations.contains { $0.kind == .settlesFor && $0.to == org && ($0.purpose == purpose || $0.purpose == .all) }
        }
        for lane in relations where lane.kind == .transfersWith {
            var present: Set<EndorserRole> = [.sender, .receiver, .hq]
            if settles(lane.from, for: .sales) { present.insert(.senderSettlement) }
            if settles(lane.to, for: .purchases) { present.insert(.receiverSettlement) }
            if lane.carrier != nil { present.insert(.carrier) }
            for type in LedgerTransactionType.allCases where type.isTransferStep {
                let policy = policies.policy(for: type)
                guard !policy.isSatisfied(by: present) else { continue }
                let missing = policy.roles.subtracting(present).sorted().map(\.rawValue).joined(separator: ", ")
                problems.append(MatrixProblem(
                    field: "ledger.policies.\(type.rawValue)",
                    reason: "cannot be met on the lane \(lane.from) → \(lane.to): no org plays \(missing) there"))
            }
        }
        return problems
    }

    /// The key custody an org gets from these settings.
    public func custody(of org: OrgCode) -> KeyCustody { clientHeld.contains(org) ? .client : .custodial }

    /// The section's settings, or every problem with it, each naming its field. `hq` defaults to
    /// the tenant's headquarters.
    static func parse(_ entry: TenantFile.LedgerEntry, orgs: Set<OrgCode>, headquarters: OrgCode) -> Result<LedgerDefinition, MatrixInvalid> {
        var problems = entry.unknownKeys.map {
            MatrixProblem(field: "ledger.\($0)", reason: "is not a ledger setting (hq, client_held, policies)")
        }
        var hq = headquarters
        if let text = entry.hq {
            do {
                hq = try OrgCode(text, field: "ledger.hq")
                if !orgs.contains(hq) { problems.append(MatrixProblem(field: "ledger.hq", reason: "no org \(hq) in this tenant")) }
            } catch {
                problems.append(error)
            }
        }
        var clientHeld: Set<OrgCode> = []
        for (index, text) in (entry.clientHeld ?? []).enumerated() {
            let field = "ledger.client_held[\(index)]"
            do {
                let code = try OrgCode(text, field: field)
                if !orgs.contains(code) {
                    problems.append(MatrixProblem(field: field, reason: "no org \(code) in this tenant"))
                } else if !clientHeld.insert(code).inserted {
                    problems.append(MatrixProblem(field: field, reason: "\(code) appears twice"))
                }
            } catch {
                problems.append(error)
            }
        }
        let policies = entry.policies ?? [:]
        for (type, text) in policies.sorted(by: { $0.key < $1.key }) {
            let field = "ledger.policies.\(type)"
            if !transactionTypes.contains(type) {
                problems.append(MatrixProblem(
                    field: field, reason: "is not a transaction type (\(transactionTypes.sorted().joined(separator: ", ")))"))
            } else if text.allSatisfy(\.isWhitespace) || text.unicodeScalars.count > policyLengthMax {
                problems.append(MatrixProblem(field: field, reason: "must be a policy expression of 1–\(policyLengthMax) characters"))
            } else {
                do {
                    _ = try EndorsementPolicy.parse(text)
                } catch {
                    problems.append(MatrixProblem(field: field, reason: "is not a policy: \(error)"))
                }
            }
        }
        guard problems.isEmpty else { return .failure(MatrixInvalid(problems)) }
        return .success(LedgerDefinition(hq: hq, clientHeld: clientHeld, policies: policies))
    }
}

/// A version of the pricing rules: the entry as written (what is stored) and the rules it declares.
public struct PricingVersion: Sendable, Hashable {
    public let entry: TenantFile.PricingEntry
    public let rules: PricingRules
    public init(entry: TenantFile.PricingEntry, rules: PricingRules) {
        self.entry = entry
        self.rules = rules
    }
}

/// A validated tenant definition: the desired state `tenant apply` converges the database to.
public struct TenantDefinition: Sendable {
    /// Relations without `valid_from` start here, so a fresh tenant has history from a fixed day.
    public static let defaultValidFrom = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    public let code: TenantCode
    public let name: String
    public let orgs: [Org]
    public let relations: [Relation]
    public let principals: [PrincipalSpec]
    /// Transfer-pricing rule versions, as written and as rules.
    public let pricing: [PricingVersion]
    /// The one org that reports to nobody.
    public let headquarters: OrgCode
    /// The `ledger:` section, when the file has one: then `tenant apply` also keeps the org keys.
    public let ledger: LedgerDefinition?

    public var matrix: OrgMatrix { OrgMatrix(orgs: orgs, relations: relations) }

    /// Validates everything and reports every problem at once.
    public static func validate(_ file: TenantFile) throws(MatrixInvalid) -> TenantDefinition {
        let unknownSections = file.unknownKeys.map {
            MatrixProblem(field: $0, reason: "is not a section of a tenant file (tenant, orgs, relations, principals, pricing, ledger)")
        }
        var problems: [MatrixProblem] = []
        func attempt<T>(_ body: () throws(MatrixProblem) -> T) -> T? {
            do { return try body() } catch {
                problems.append(error)
                return nil
            }
        }
        let code = attempt { () throws(MatrixProblem) in try TenantCode(file.tenant.code) }
        if file.tenant.name.isEmpty || file.tenant.name.count > 200 {
            problems.append(MatrixProblem(field: "tenant.name", reason: "must be 1–200 characters"))
        }
        var orgs: [Org] = []
        for (index, entry) in file.orgs.enumerated() {
            if let org = attempt({ () throws(MatrixProblem) in try parseOrg(entry, field: "orgs[\(index)]") }) {
                if orgs.contains(where: { $0.code == org.code }) {
                    problems.append(MatrixProblem(field: "orgs[\(index)].code", reason: "\(org.code) appears twice"))
                } else {
                    orgs.append(org)
                }
            }
            if let location = entry.location {
                problems += Location.validateCodes(
                    province: location.province, city: location.city, county: location.county, field: "orgs[\(index)].location")
            }
        }
        var relations: [Relation] = []
        for (index, entry) in file.relations.enumerated() {
            if let relation = attempt({ () throws(MatrixProblem) in try parseRelation(entry, field: "relations[\(index)]") }) {
                relations.append(relation)
            }
        }
        let orgCodes = Set(orgs.map(\.code))
        var principals: [PrincipalSpec] = []
        for (index, entry) in file.principals.enumerated() {
            guard let principal = attempt({ () throws(MatrixProblem) in try parsePrincipal(entry, field: "principals[\(index)]") })
            else { continue }
            if principals.contains(where: { $0.name == principal.name }) {
                problems.append(MatrixProblem(field: "principals[\(index)].name", reason: "\(principal.name) appears twice"))
            } else if !orgCodes.contains(principal.org) {
                problems.append(MatrixProblem(field: "principals[\(index)].org", reason: "no org \(principal.org) in this tenant"))
            } else {
                principals.append(principal)
            }
        }
        guard problems.isEmpty, let code else { throw MatrixInvalid(unknownSections + problems) }

        let matrix = OrgMatrix(orgs: orgs, relations: relations)
        problems += matrix.problems()
        let roots = orgs.filter { org in !relations.contains { $0.kind == .reportsTo && $0.from == org.code } }
        if roots.count != 1 {
            problems.append(MatrixProblem(
                field: "relations",
                reason: "exactly one org (HQ) must report to nobody; found \(roots.map(\.code.rawValue).sorted())"))
        }
        if let headquarters = roots.first, roots.count == 1 {
            for (index, principal) in principals.enumerated() {
                problems += roleProblems(principal, org: matrix.orgs[principal.org]!, headquarters: headquarters.code, field: "principals[\(index)]")
            }
        }
        var pricing: [PricingVersion] = []
        for (index, entry) in (file.pricing ?? []).enumerated() {
            do {
                let rules = try entry.rules(field: "pricing[\(index)]")
                if pricing.contains(where: { $0.rules.version == rules.version }) {
                    problems.append(MatrixProblem(field: "pricing[\(index)].version", reason: "\(rules.version) appears twice"))
                }
                pricing.append(PricingVersion(entry: entry, rules: rules))
            } catch {
                problems += error.problems
            }
        }
        var ledger: LedgerDefinition?
        if let entry = file.ledger, let headquarters = roots.first, roots.count == 1 {
            switch LedgerDefinition.parse(entry, orgs: orgCodes, headquarters: headquarters.code) {
            case .success(let parsed):
                ledger = parsed
                problems += parsed.unmetPolicies(relations: relations)
            case .failure(let invalid): problems += invalid.problems
            }
        }
        guard unknownSections.isEmpty, problems.isEmpty, let headquarters = roots.first else { throw MatrixInvalid(unknownSections + problems) }
        return TenantDefinition(
            code: code, name: file.tenant.name, orgs: orgs, relations: relations, principals: principals, pricing: pricing,
            headquarters: headquarters.code, ledger: ledger)
    }

    /// One org entry on its own (the API's `POST /v1/orgs` uses the tenant file's rules).
    public static func parseOrgEntry(_ entry: TenantFile.OrgEntry) throws(MatrixProblem) -> Org {
        let org = try parseOrg(entry, field: "org")
        return org
    }

    private static func parseOrg(_ entry: TenantFile.OrgEntry, field: String) throws(MatrixProblem) -> Org {
        let code = try OrgCode(entry.code, field: "\(field).code")
        guard (1...200).contains(entry.name.unicodeScalars.count) else { throw MatrixProblem(field: "\(field).name", reason: "must be 1–200 characters") }
        guard let kind = OrgKind(rawValue: entry.kind) else {
            throw MatrixProblem(field: "\(field).kind", reason: "must be virtual or physical, not \(entry.kind)")
        }
        var roles: Set<OrgRole> = []
        for (index, name) in entry.roles.enumerated() {
            guard let role = OrgRole(rawValue: name) else {
                throw MatrixProblem(field: "\(field).roles[\(index)]", reason: "must be settlement, fulfilment or supervisory, not \(name)")
            }
            roles.insert(role)
        }
        guard !roles.isEmpty else { throw MatrixProblem(field: "\(field).roles", reason: "must name at least one role") }
        if kind == .virtual && roles.contains(.fulfilment) {
            throw MatrixProblem(field: "\(field).roles", reason: "a virtual org holds no goods, so it cannot have the fulfilment role")
        }
        var location: Location?
        if let entry = entry.location {
            location = Location(
                provinceCode: entry.province, cityCode: entry.city, countyCode: entry.county,
                latitudeMicrodegrees: try Location.microdegrees(entry.latitude, limit: 90, field: "\(field).location.latitude"),
                longitudeMicrodegrees: try Location.microdegrees(entry.longitude, limit: 180, field: "\(field).location.longitude"))
        } else if kind == .physical {
            throw MatrixProblem(field: "\(field).location", reason: "is required for a physical org (pricing needs it)")
        }
        return Org(code: code, name: entry.name, kind: kind, roles: roles, location: location)
    }

    private static func parseRelation(_ entry: TenantFile.RelationEntry, field: String) throws(MatrixProblem) -> Relation {
        guard let kind = RelationKind(rawValue: entry.kind) else {
            throw MatrixProblem(field: "\(field).kind", reason: "must be reports_to, settles_for, supervises or transfers_with, not \(entry.kind)")
        }
        var purpose: SettlementPurpose?
        if let text = entry.purpose {
            guard let parsed = SettlementPurpose(rawValue: text) else {
                throw MatrixProblem(field: "\(field).purpose", reason: "must be purchases, sales or all, not \(text)")
            }
            purpose = parsed
        }
        var validFrom = defaultValidFrom
        if let text = entry.validFrom {
            guard let parsed = try? Date(text, strategy: .iso8601) else {
                throw MatrixProblem(field: "\(field).valid_from", reason: "must be an ISO 8601 UTC time such as 2026-01-01T00:00:00Z")
            }
            validFrom = parsed
        }
        return Relation(
            kind: kind, from: try OrgCode(entry.from, field: "\(field).from"), to: try OrgCode(entry.to, field: "\(field).to"),
            purpose: purpose, distanceKm: try entry.distanceKm.map { value throws(MatrixProblem) in try int32(value, "\(field).distance_km") },
            leadTimeHours: try entry.leadTimeHours.map { value throws(MatrixProblem) in try int32(value, "\(field).lead_time_hours") },
            markupBasisPoints: try entry.markupBasisPoints.map { value throws(MatrixProblem) in try int32(value, "\(field).markup_bp") },
            carrier: try entry.carrier.map { code throws(MatrixProblem) in try OrgCode(code, field: "\(field).carrier") }, validFrom: validFrom)
    }

    private static func int32(_ value: Int, _ field: String) throws(MatrixProblem) -> Int32 {
        guard let narrow = Int32(exactly: value) else { throw MatrixProblem(field: field, reason: "is out of range") }
        return narrow
    }

    private static func parsePrincipal(_ entry: TenantFile.PrincipalEntry, field: String) throws(MatrixProblem) -> PrincipalSpec {
        guard let role = PrincipalRole(rawValue: entry.role) else {
            throw MatrixProblem(
                field: "\(field).role", reason: "must be one of \(PrincipalRole.allCases.map(\.rawValue).joined(separator: ", ")), not \(entry.role)")
        }
        return PrincipalSpec(
            name: try PrincipalName(entry.name, field: "\(field).name"), org: try OrgCode(entry.org, field: "\(field).org"), role: role)
    }

    public static func roleProblems(_ principal: PrincipalSpec, org: Org, headquarters: OrgCode, field: String) -> [MatrixProblem] {
        switch principal.role {
        case .hqAdmin, .auditor:
            principal.org == headquarters
                ? [] : [MatrixProblem(field: "\(field).org", reason: "\(principal.role.rawValue) acts for HQ (\(headquarters)), not \(principal.org)")]
        case .supervisor:
            org.roles.contains(.supervisory)
                ? [] : [MatrixProblem(field: "\(field).org", reason: "a supervisor acts for an org with the supervisory role; \(org.code) has none")]
        case .orgOperator, .integration:
            []
        }
    }
}
