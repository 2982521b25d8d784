import Foundation

/// A tenant's organizations and the relations between them, over time.
///
/// Pure: validation and the visible set are computed here and mirrored by the database's
/// policies; tests hold the two to the same answers.
public struct OrgMatrix: Sendable {
    public let orgs: [OrgCode: Org]
    public let relations: [Relation]

    public init(orgs: [Org], relations: [Relation]) {
        self.orgs = Dictionary(orgs.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        self.relations = relations
    }

    /// Every rule the matrix breaks, each naming the relation (`relations[i]`) at fault.
    public func problems() -> [MatrixProblem] {
        var problems: [MatrixProblem] = []
        for (index, relation) in relations.enumerated() {
            problems += shapeProblems(relation, field: "relations[\(index)]")
        }
        guard problems.isEmpty else { return problems }
        problems += overlapProblems()
        problems += hierarchyProblems()
        return problems
    }

    /// The orgs `org` may read at `moment`: itself and everything reachable from it downwards
    /// (children through `reports_to`, and the targets of `settles_for` and `supervises`).
    public func visibleSet(of org: OrgCode, at moment: Date) -> Set<OrgCode> {
        var children: [OrgCode: [OrgCode]] = [:]
        for relation in relations where relation.kind.grantsVisibility && relation.isValid(at: moment) {
            let (above, below) = relation.kind == .reportsTo ? (relation.to, relation.from) : (relation.from, relation.to)
            children[above, default: []].append(below)
        }
        var visible: Set<OrgCode> = [org]
        var frontier = [org]
        while let next = frontier.popLast() {
            for child in children[next] ?? [] where visible.insert(child).inserted {
                frontier.append(child)
            }
        }
        return visible
    }

    /// The parent `org` reports to at `moment`, if any.
    public func parent(of org: OrgCode, at moment: Date) -> OrgCode? {
        relations.first { $0.kind == .reportsTo && $0.from == org && $0.isValid(at: moment) }?.to
    }

    private func shapeProblems(_ relation: Relation, field: String) -> [MatrixProblem] {
        guard let from = orgs[relation.from] else {
            return [MatrixProblem(field: "\(field).from", reason: "no org \(relation.from) in this tenant")]
        }
        guard let to = orgs[relation.to] else {
            return [MatrixProblem(field: "\(field).to", reason: "no org \(relation.to) in this tenant")]
        }
        let names: [Relation.Field: String] = [
            .to: "to", .validTo: "valid_to", .distanceKm: "distance_km", .leadTimeHours: "lead_time_hours", .markupBasisPoints: "markup_bp",
            .purpose: "purpose", .carrier: "carrier",
        ]
        var problems = relation.formProblems().map { MatrixProblem(field: "\(field).\(names[$0.field]!)", reason: $0.reason) }
        func require(_ condition: Bool, _ subfield: String, _ reason: String) {
            if !condition { problems.append(MatrixProblem(field: "\(field)\(subfield)", reason: reason)) }
        }
        switch relation.kind {
        case .reportsTo:
            break
        case .settlesFor:
            require(from.kind == .virtual && from.roles.contains(.settlement), ".from", "\(from.code) must be a virtual org with the settlement role")
            require(to.kind == .physical, ".to", "\(to.code) must be a physical org")
        case .supervises:
            require(from.roles.contains(.supervisory), ".from", "\(from.code) must have the supervisory role")
        case .transfersWith:
            for (subfield, org) in [(".from", from), (".to", to)] {
                require(org.kind == .physical && org.roles.contains(.fulfilment), subfield, "\(org.code) must be a physical org with the fulfilment role")
            }
            if let code = relation.carrier {
                if let carrier = orgs[code] {
                    require(carrier.kind == .physical, ".carrier", "\(code) must be a physical org (a carrier moves the goods)")
                } else {
                    problems.append(MatrixProblem(field: "\(field).carrier", reason: "no org \(code) in this tenant"))
                }
            }
        }
        return problems
    }

    private func overlapProblems() -> [MatrixProblem] {
        var problems: [MatrixProblem] = []
        var byLink: [Relation.LinkKey: [Int]] = [:]
        for (index, relation) in relations.enumerated() { byLink[relation.linkKey, default: []].append(index) }
        for indices in byLink.values where indices.count > 1 {
            for (position, first) in indices.enumerated() {
                for second in indices[(position + 1)...] where relations[first].overlaps(relations[second]) {
                    problems.append(MatrixProblem(
                        field: "relations[\(second)]",
                        reason: "duplicates relations[\(first)] (\(relations[first].kind.rawValue) \(relations[first].from) → \(relations[first].to)) over an overlapping period"))
                }
            }
        }
        return problems
    }

    /// `reports_to` must be a forest at every moment: one parent at most, no cycles. The set of
    /// valid edges only changes where an edge starts or ends, so those moments are all to check.
    private func hierarchyProblems() -> [MatrixProblem] {
        let hierarchy = relations.enumerated().filter { $0.element.kind == .reportsTo }
        let moments = Set(hierarchy.flatMap { [$0.element.validFrom] + ($0.element.validTo.map { [$0] } ?? []) }).sorted()
        for moment in moments {
            var parentOf: [OrgCode: (OrgCode, Int)] = [:]
            for (index, relation) in hierarchy where relation.isValid(at: moment) {
                if let (other, otherIndex) = parentOf[relation.from] {
                    return [MatrixProblem(
                        field: "relations[\(index)]",
                        reason: "\(relation.from) would report to both \(other) (relations[\(otherIndex)]) and \(relation.to)")]
                }
                parentOf[relation.from] = (relation.to, index)
            }
            for start in parentOf.keys {
                var seen: Set<OrgCode> = [start]
                var current = start
                while let (parent, index) = parentOf[current] {
                    guard seen.insert(parent).inserted else {
                        return [MatrixProblem(field: "relations[\(index)]", reason: "reports_to would form a cycle through \(parent)")]
                    }
                    current = parent
                }
            }
        }
        return []
    }
}
