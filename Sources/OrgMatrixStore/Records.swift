import Foundation
import OrgMatrixCore
import PostgresNIO

/// An org as stored: the Core value plus its database id.
public struct OrgRecord: Sendable, Hashable {
    public let id: OrgID
    public let org: Org

    /// From `org_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code,
    /// city_code, county_code, latitude_microdegrees, longitude_microdegrees` (bound-only SQL
    /// means each query spells the list out).
    init(row: PostgresRow) throws {
        let (id, code, name, kind, settle, fulfil, supervise, province, city, county, latitude, longitude) = try row.decode(
            (Int64, String, String, String, Bool, Bool, Bool, String?, String?, String?, Int32?, Int32?).self)
        var roles: Set<OrgRole> = []
        if settle { roles.insert(.settlement) }
        if fulfil { roles.insert(.fulfilment) }
        if supervise { roles.insert(.supervisory) }
        var location: Location?
        if let province, let city, let county, let latitude, let longitude {
            location = Location(
                provinceCode: province, cityCode: city, countyCode: county, latitudeMicrodegrees: latitude, longitudeMicrodegrees: longitude)
        }
        self.id = OrgID(id)
        self.org = Org(code: try OrgCode(code), name: name, kind: OrgKind(rawValue: kind)!, roles: roles, location: location)
    }
}

/// A relation as stored: the Core value plus its id.
public struct RelationRecord: Sendable, Hashable {
    public let id: Int64
    public let relation: Relation

    init(id: Int64, relation: Relation) {
        self.id = id
        self.relation = relation
    }

    /// From `relation_id, kind, from_code, to_code, purpose, distance_km, lead_time_hours,
    /// markup_basis_points, valid_from, valid_to, carrier_code`.
    init(row: PostgresRow) throws {
        let (id, kind, from, to, purpose, distance, hours, markup, validFrom, validTo, carrier) = try row.decode(
            (Int64, String, String, String, String?, Int32?, Int32?, Int32?, Date, Date?, String?).self)
        self.id = id
        relation = Relation(
            kind: RelationKind(rawValue: kind)!, from: try OrgCode(from), to: try OrgCode(to), purpose: purpose.flatMap(SettlementPurpose.init),
            distanceKm: distance, leadTimeHours: hours, markupBasisPoints: markup, carrier: try carrier.map { try OrgCode($0) },
            validFrom: validFrom, validTo: validTo)
    }
}
