import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore

struct ListView<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    let items: [Item]
    let nextCursor: String?
}

struct MeView: ResponseEncodable {
    let principal: String
    let tenant: String
    let actingOrg: String
    let role: String
    let canWrite: Bool
    let visibleOrgs: [String]
}

struct LocationView: Codable, Sendable {
    let province: String
    let city: String
    let county: String
    let latitudeMicrodegrees: Int32
    let longitudeMicrodegrees: Int32
}

struct OrgView: ResponseEncodable, Sendable {
    let code: String
    let name: String
    let kind: String
    let roles: [String]
    let location: LocationView?

    init(_ record: OrgRecord) {
        code = record.org.code.rawValue
        name = record.org.name
        kind = record.org.kind.rawValue
        roles = record.org.roles.sorted().map(\.rawValue)
        location = record.org.location.map {
            LocationView(
                province: $0.provinceCode, city: $0.cityCode, county: $0.countyCode, latitudeMicrodegrees: $0.latitudeMicrodegrees,
                longitudeMicrodegrees: $0.longitudeMicrodegrees)
        }
    }
}

struct VisibleView: ResponseEncodable {
    let org: String
    let asOf: Date
    let visibleOrgs: [String]
}

struct RelationView: ResponseEncodable, Sendable {
    let id: Int64
    let kind: String
    let from: String
    let to: String
    let purpose: String?
    let distanceKm: Int32?
    let leadTimeHours: Int32?
    let markupBasisPoints: Int32?
    /// A lane's transport org, when it names one.
    let carrier: String?
    let validFrom: Date
    let validTo: Date?

    init(_ record: RelationRecord) {
        let relation = record.relation
        id = record.id
        kind = relation.kind.rawValue
        from = relation.from.rawValue
        to = relation.to.rawValue
        purpose = relation.purpose?.rawValue
        distanceKm = relation.distanceKm
        leadTimeHours = relation.leadTimeHours
        markupBasisPoints = relation.markupBasisPoints
        carrier = relation.carrier?.rawValue
        validFrom = relation.validFrom
        validTo = relation.validTo
    }
}

struct PrincipalView: ResponseEncodable, Sendable {
    let id: Int64
    let name: String
    let org: String
    let role: String
    let createdAt: Date
    let revokedAt: Date?

    init(_ record: PrincipalRecord) {
        id = record.id
        name = record.name
        org = record.orgCode.rawValue
        role = record.role.rawValue
        createdAt = record.createdAt
        revokedAt = record.revokedAt
    }
}

struct CreatedPrincipalView: ResponseEncodable {
    let principal: PrincipalView
    /// Shown once; only its SM3 hash is stored.
    let key: String
}

struct AuditEventView: ResponseEncodable, Sendable {
    let id: Int64
    let occurredAt: Date
    let actor: String
    let org: String
    let requestId: String?
    let action: String
    let subject: String
    let detail: String

    init(_ event: AuditEvent) {
        id = event.id
        occurredAt = event.occurredAt
        actor = event.actor
        org = event.orgCode.rawValue
        requestId = event.requestID
        action = event.action
        subject = event.subject
        detail = event.detail
    }
}

struct NewOrg: JSONBody {
    struct NewLocation: Decodable, Sendable {
        let province: String
        let city: String
        let county: String
        let latitude: String
        let longitude: String
    }

    let code: String
    let name: String
    let kind: String
    let roles: [String]
    let location: NewLocation?
    let reportsTo: String

    static let keys = BodyKeys.object([
        "code": .value, "name": .value, "kind": .value, "roles": .value, "reportsTo": .value,
        "location": .object(["province": .value, "city": .value, "county": .value, "latitude": .value, "longitude": .value]),
    ])

    func checkForm() throws { _ = try org() }

    /// Validated by the same rules as tenant files, so the API and YAML never disagree.
    func org() throws -> (Org, OrgCode) {
        let entry = TenantFile.OrgEntry(
            code: code, name: name, kind: kind, roles: roles,
            location: location.map {
                TenantFile.LocationEntry(province: $0.province, city: $0.city, county: $0.county, latitude: $0.latitude, longitude: $0.longitude)
            })
        if let location,
            let problem = Location.validateCodes(province: location.province, city: location.city, county: location.county, field: "location").first
        {
            throw problem
        }
        let org: Org
        do {
            org = try TenantDefinition.parseOrgEntry(entry)
        } catch {
            throw MatrixProblem(field: String(error.field.dropFirst("org.".count)), reason: error.reason)
        }
        return (org, try OrgCode(reportsTo, field: "reportsTo"))
    }
}

struct NewRelation: JSONBody {
    let kind: String
    let from: String
    let to: String
    let purpose: String?
    let distanceKm: Int?
    let leadTimeHours: Int?
    let markupBasisPoints: Int?
    let validFrom: String?

    static let keys = BodyKeys.object([
        "kind": .value, "from": .value, "to": .value, "purpose": .value, "distanceKm": .value, "leadTimeHours": .value,
        "markupBasisPoints": .value, "validFrom": .value,
    ])

    func checkForm() throws { _ = try relation() }

    /// The relation the body describes, checked by the rules that hold whatever the matrix
    /// holds (`Relation.formProblems`); the matrix's own rules are the Store's (409).
    func relation() throws -> Relation {
        guard let kind = RelationKind(rawValue: kind) else {
            throw MatrixProblem(field: "kind", reason: "must be reports_to, settles_for, supervises or transfers_with")
        }
        var purposeValue: SettlementPurpose?
        if let purpose {
            guard let parsed = SettlementPurpose(rawValue: purpose) else {
                throw MatrixProblem(field: "purpose", reason: "must be purchases, sales or all")
            }
            purposeValue = parsed
        }
        func narrow(_ value: Int?, _ field: String) throws -> Int32? {
            try value.map {
                guard let narrow = Int32(exactly: $0) else { throw MatrixProblem(field: field, reason: "is out of range") }
                return narrow
            }
        }
        let relation = Relation(
            kind: kind, from: try OrgCode(from, field: "from"), to: try OrgCode(to, field: "to"), purpose: purposeValue,
            distanceKm: try narrow(distanceKm, "distanceKm"), leadTimeHours: try narrow(leadTimeHours, "leadTimeHours"),
            markupBasisPoints: try narrow(markupBasisPoints, "markupBasisPoints"), validFrom: try validFrom.map { try Form.time($0, "validFrom") } ?? Date())
        if let problem = relation.formProblems().first {
            let field =
                switch problem.field {
                case .to: "to"
                case .validTo: "validFrom"
                case .distanceKm: "distanceKm"
                case .leadTimeHours: "leadTimeHours"
                case .markupBasisPoints: "markupBasisPoints"
                case .purpose: "purpose"
                case .carrier: "carrier"
                }
            throw MatrixProblem(field: field, reason: problem.reason)
        }
        return relation
    }
}

struct EndRelation: JSONBody {
    let at: String?

    static let keys = BodyKeys.object(["at": .value])

    func checkForm() throws { _ = try at.map { try Form.time($0, "at") } }
}

struct NewPrincipal: JSONBody {
    let name: String
    let org: String
    let role: String

    static let keys = BodyKeys.object(["name": .value, "org": .value, "role": .value])

    func checkForm() throws { _ = try spec() }

    func spec() throws -> PrincipalSpec {
        guard let role = PrincipalRole(rawValue: role) else {
            throw MatrixProblem(field: "role", reason: "must be one of \(PrincipalRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return PrincipalSpec(name: try PrincipalName(name, field: "name"), org: try OrgCode(org, field: "org"), role: role)
    }
}
