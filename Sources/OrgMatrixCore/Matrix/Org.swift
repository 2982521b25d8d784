/// Whether an organization exists only for settlement (a sales region) or holds goods (a warehouse).
public enum OrgKind: String, Sendable, Hashable, CaseIterable {
    case virtual
    case physical
}

/// What an organization may do in the matrix.
public enum OrgRole: String, Sendable, Hashable, CaseIterable, Comparable {
    case settlement
    case fulfilment
    case supervisory

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Where a physical organization is: GB/T 2260 division codes and coordinates in integer
/// micro-degrees (no floating point anywhere), for distance-based pricing later.
public struct Location: Sendable, Hashable {
    public let provinceCode: String
    public let cityCode: String
    public let countyCode: String
    public let latitudeMicrodegrees: Int32
    public let longitudeMicrodegrees: Int32

    public init(
        provinceCode: String, cityCode: String, countyCode: String, latitudeMicrodegrees: Int32, longitudeMicrodegrees: Int32
    ) {
        self.provinceCode = provinceCode
        self.cityCode = cityCode
        self.countyCode = countyCode
        self.latitudeMicrodegrees = latitudeMicrodegrees
        self.longitudeMicrodegrees = longitudeMicrodegrees
    }

    /// Parses a decimal degree string with at most 6 decimals (`"39.904200"`) into micro-degrees.
    public static func microdegrees(_ text: String, limit: Int32, field: String) throws(MatrixProblem) -> Int32 {
        guard let match = text.wholeMatch(of: /(-?)(0|[1-9][0-9]{0,2})(?:\.([0-9]{1,6}))?/) else {
            throw MatrixProblem(field: field, reason: "must be decimal degrees with at most 6 decimals, e.g. \"39.904200\"")
        }
        let fraction = String(match.3 ?? "")
        let padded = fraction + String(repeating: "0", count: 6 - fraction.count)
        let magnitude = Int64(match.2)! * 1_000_000 + Int64(padded)!
        guard magnitude <= Int64(limit) * 1_000_000 else {
            throw MatrixProblem(field: field, reason: "must be within ±\(limit) degrees")
        }
        return Int32(match.1.isEmpty ? magnitude : -magnitude)
    }

    /// Validates the division codes' shape and nesting (city within province, county within city).
    public static func validateCodes(province: String, city: String, county: String, field: String) -> [MatrixProblem] {
        var problems: [MatrixProblem] = []
        for (name, code) in [("province", province), ("city", city), ("county", county)]
        where code.wholeMatch(of: /[1-9][0-9]{5}/) == nil {
            problems.append(MatrixProblem(field: "\(field).\(name)", reason: "must be a six-digit GB/T 2260 division code"))
        }
        guard problems.isEmpty else { return problems }
        if !city.hasPrefix(province.prefix(2)) {
            problems.append(MatrixProblem(field: "\(field).city", reason: "\(city) is not in province \(province)"))
        }
        if !county.hasPrefix(city.prefix(4)) && !county.hasPrefix(province.prefix(2)) {
            problems.append(MatrixProblem(field: "\(field).county", reason: "\(county) is not in city \(city)"))
        }
        return problems
    }
}

/// An organization of a tenant: a node of the matrix.
public struct Org: Sendable, Hashable {
    public let code: OrgCode
    public var name: String
    public let kind: OrgKind
    public var roles: Set<OrgRole>
    public var location: Location?

    public init(code: OrgCode, name: String, kind: OrgKind, roles: Set<OrgRole>, location: Location?) {
        self.code = code
        self.name = name
        self.kind = kind
        self.roles = roles
        self.location = location
    }
}
