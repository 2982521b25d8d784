import Foundation

/// The typed, directed edges of the matrix.
public enum RelationKind: String, Sendable, Hashable, CaseIterable {
    /// `from` (child) reports to `to` (parent): the hierarchy.
    case reportsTo = "reports_to"
    /// `from` (a virtual settlement org) settles for `to` (a physical org).
    case settlesFor = "settles_for"
    /// `from` (a supervisory org) supervises `to`.
    case supervises
    /// A priced lane for goods from `from` to `to`, both physical.
    case transfersWith = "transfers_with"

    /// Whether the edge lets `from`'s principals read `to`'s rows (or, for `reports_to`, lets the
    /// parent read the child). Lanes carry goods, not visibility.
    var grantsVisibility: Bool { self != .transfersWith }
}

/// Which of a physical org's transactions a settlement org settles (a ranch's purchases settle in
/// its banner, its sales in a province).
public enum SettlementPurpose: String, Sendable, Hashable, CaseIterable {
    case purchases, sales, all
}

/// One edge of the matrix, valid over `[validFrom, validTo)`. Never edited: a change ends the old
/// edge and starts a new one, so the matrix as of any past moment can be rebuilt.
public struct Relation: Sendable, Hashable {
    public let kind: RelationKind
    public let from: OrgCode
    public let to: OrgCode
    public let purpose: SettlementPurpose?
    public let distanceKm: Int32?
    public let leadTimeHours: Int32?
    /// A lane's cost-plus markup in basis points (none means 0); lanes only.
    public let markupBasisPoints: Int32?
    /// A lane's transport org, a physical org other than its two ends; lanes only. It plays the
    /// `carrier` role in endorsement policies.
    public let carrier: OrgCode?
    public let validFrom: Date
    public var validTo: Date?

    public init(
        kind: RelationKind, from: OrgCode, to: OrgCode, purpose: SettlementPurpose? = nil, distanceKm: Int32? = nil,
        leadTimeHours: Int32? = nil, markupBasisPoints: Int32? = nil, carrier: OrgCode? = nil, validFrom: Date, validTo: Date? = nil
    ) {
        self.kind = kind
        self.from = from
        self.to = to
        self.purpose = purpose
        self.distanceKm = distanceKm
        self.leadTimeHours = leadTimeHours
        self.markupBasisPoints = markupBasisPoints
        self.carrier = carrier
        self.validFrom = validFrom
        self.validTo = validTo
    }

    /// A field of a relation a form rule names.
    public enum Field: Sendable, Hashable {
        case to, validTo, distanceKm, leadTimeHours, markupBasisPoints, purpose, carrier
    }

    /// The rules a relation keeps whatever the matrix holds, in this order: two different orgs,
    /// an end after its start, the fields its kind takes (a lane's distance, lead time, markup and
    /// carrier, a settlement's purpose) and no others, and their bounds. The API refuses these as a
    /// malformed request (422) before it looks at any stored org; the matrix checks them too.
    public func formProblems() -> [(field: Field, reason: String)] {
        var problems: [(field: Field, reason: String)] = []
        func require(_ condition: Bool, _ field: Field, _ reason: String) {
            if !condition { problems.append((field, reason)) }
        }
        require(from != to, .to, "must be another org than from: a relation joins two orgs")
        if let validTo { require(validFrom < validTo, .validTo, "must be after valid_from") }
        let isLane = kind == .transfersWith
        require(isLane == (distanceKm != nil), .distanceKm, isLane ? "is required for a lane" : "belongs to transfers_with only")
        require(isLane == (leadTimeHours != nil), .leadTimeHours, isLane ? "is required for a lane" : "belongs to transfers_with only")
        require(isLane || markupBasisPoints == nil, .markupBasisPoints, "belongs to transfers_with only")
        if let markupBasisPoints { require((0...10_000).contains(markupBasisPoints), .markupBasisPoints, "must be 0–10000") }
        if let carrier {
            require(isLane, .carrier, "belongs to transfers_with only")
            require(carrier != from && carrier != to, .carrier, "must be another org than the lane's two ends")
        }
        let isSettlement = kind == .settlesFor
        require(isSettlement == (purpose != nil), .purpose, isSettlement ? "is required for settles_for" : "belongs to settles_for only")
        if let distanceKm { require(distanceKm > 0 && distanceKm <= 10_000, .distanceKm, "must be 1–10000") }
        if let leadTimeHours { require(leadTimeHours > 0 && leadTimeHours <= 2_000, .leadTimeHours, "must be 1–2000") }
        return problems
    }

    public func isValid(at moment: Date) -> Bool {
        validFrom <= moment && (validTo.map { moment < $0 } ?? true)
    }

    /// Two edges are the same link when kind, endpoints and purpose agree; such links must not overlap in time.
    public var linkKey: LinkKey { LinkKey(kind: kind, from: from, to: to, purpose: purpose) }

    /// The same link with the same attributes (a lane's distance, lead time, markup and carrier).
    public func hasSameTerms(as other: Relation) -> Bool {
        linkKey == other.linkKey && distanceKm == other.distanceKm && leadTimeHours == other.leadTimeHours
            && markupBasisPoints == other.markupBasisPoints && carrier == other.carrier
    }

    func overlaps(_ other: Relation) -> Bool {
        let endsAfterOtherStarts = validTo.map { other.validFrom < $0 } ?? true
        let otherEndsAfterStart = other.validTo.map { validFrom < $0 } ?? true
        return endsAfterOtherStarts && otherEndsAfterStart
    }

    public struct LinkKey: Hashable, Sendable {
        public let kind: RelationKind
        public let from: OrgCode
        public let to: OrgCode
        public let purpose: SettlementPurpose?
    }
}
