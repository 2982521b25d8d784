import Foundation
import OrgMatrixCore
import Testing

private func code(_ text: String) -> OrgCode { try! OrgCode(text) }
private let january = TenantDefinition.defaultValidFrom
private let day: TimeInterval = 86_400

private func org(_ text: String, _ kind: OrgKind = .physical, _ roles: Set<OrgRole> = [.fulfilment]) -> Org {
    Org(code: code(text), name: text, kind: kind, roles: roles, location: nil)
}

private func edge(
    _ kind: RelationKind, _ from: String, _ to: String, from start: Date = january, to end: Date? = nil
) -> Relation {
    Relation(
        kind: kind, from: code(from), to: code(to), purpose: kind == .settlesFor ? .all : nil,
        distanceKm: kind == .transfersWith ? 100 : nil, leadTimeHours: kind == .transfersWith ? 4 : nil, validFrom: start, validTo: end)
}

@Suite struct MatrixValidationTests {
    let orgs = [
        org("HQ", .virtual, [.settlement, .supervisory]), org("NORTH", .virtual, [.settlement]), org("QA", .virtual, [.supervisory]),
        org("WH-A"), org("WH-B"),
    ]

    @Test func aSoundMatrixHasNoProblems() {
        let matrix = OrgMatrix(orgs: orgs, relations: [
            edge(.reportsTo, "NORTH", "HQ"), edge(.reportsTo, "WH-A", "HQ"), edge(.reportsTo, "WH-B", "WH-A"),
            edge(.settlesFor, "NORTH", "WH-B"), edge(.supervises, "QA", "WH-A"), edge(.transfersWith, "WH-A", "WH-B"),
        ])
        #expect(matrix.problems().isEmpty)
    }

    @Test func reportsToCyclesAreRefusedNamingTheRelation() {
        let matrix = OrgMatrix(orgs: orgs, relations: [
            edge(.reportsTo, "WH-A", "HQ"), edge(.reportsTo, "WH-B", "WH-A"), edge(.reportsTo, "HQ", "WH-B"),
        ])
        let problems = matrix.problems()
        #expect(problems.count == 1)
        #expect(problems.first?.reason.contains("cycle") == true)
        #expect(problems.first?.field.hasPrefix("relations[") == true)
    }

    @Test func aCycleOnlyAtALaterMomentIsStillFound() {
        let later = january.addingTimeInterval(30 * day)
        let matrix = OrgMatrix(orgs: orgs, relations: [
            edge(.reportsTo, "WH-A", "HQ", to: later), edge(.reportsTo, "WH-B", "WH-A"), edge(.reportsTo, "WH-A", "WH-B", from: later),
        ])
        #expect(matrix.problems().contains { $0.reason.contains("cycle") })
    }

    @Test func twoParentsAtOnceAreRefusedButSuccessiveParentsAreFine() {
        let later = january.addingTimeInterval(30 * day)
        let both = OrgMatrix(orgs: orgs, relations: [edge(.reportsTo, "WH-B", "HQ"), edge(.reportsTo, "WH-B", "WH-A")])
        #expect(both.problems().first?.reason.contains("report to both") == true)
        let successive = OrgMatrix(orgs: orgs, relations: [
            edge(.reportsTo, "WH-B", "HQ", to: later), edge(.reportsTo, "WH-B", "WH-A", from: later),
        ])
        #expect(successive.problems().isEmpty)
    }

    @Test(arguments: [
        (edge(.settlesFor, "WH-A", "WH-B"), "relations[0].from"),
        (edge(.settlesFor, "QA", "WH-B"), "relations[0].from"),
        (edge(.settlesFor, "NORTH", "HQ"), "relations[0].to"),
        (edge(.supervises, "NORTH", "WH-A"), "relations[0].from"),
        (edge(.transfersWith, "HQ", "WH-A"), "relations[0].from"),
        (edge(.transfersWith, "WH-A", "NORTH"), "relations[0].to"),
        (edge(.reportsTo, "WH-A", "WH-A"), "relations[0].to"),
        (edge(.reportsTo, "WH-A", "NOBODY"), "relations[0].to"),
        (edge(.reportsTo, "WH-A", "HQ", from: january, to: january), "relations[0].valid_to"),
    ])
    func relationsMustFitTheKindsAndRolesOfTheirOrgs(relation: Relation, field: String) {
        let problems = OrgMatrix(orgs: orgs, relations: [relation]).problems()
        #expect(problems.map(\.field).contains(field), "\(problems)")
    }

    @Test func overlappingDuplicatesAreRefusedButEndDatedHistoryIsNot() {
        let later = january.addingTimeInterval(10 * day)
        let overlapping = OrgMatrix(orgs: orgs, relations: [edge(.supervises, "QA", "WH-A"), edge(.supervises, "QA", "WH-A", from: later)])
        #expect(overlapping.problems().first?.reason.contains("duplicates") == true)
        let history = OrgMatrix(orgs: orgs, relations: [
            edge(.supervises, "QA", "WH-A", to: later), edge(.supervises, "QA", "WH-A", from: later),
        ])
        #expect(history.problems().isEmpty)
    }

    /// The rules that hold whatever the matrix holds are one list, which the API checks before it
    /// looks at any stored org: each named by its field, with no org needed to find them.
    @Test func formProblemsNeedNoOrgsAndNameTheirField() {
        #expect(edge(.supervises, "QA", "WH-A").formProblems().isEmpty)
        #expect(edge(.transfersWith, "NOBODY", "ELSEWHERE").formProblems().isEmpty)
        #expect(edge(.reportsTo, "WH-A", "WH-A").formProblems().map(\.field) == [.to])
        let cases: [(Relation, Relation.Field)] = [
            (Relation(kind: .supervises, from: code("QA"), to: code("WH-A"), purpose: .all, validFrom: january), .purpose),
            (Relation(kind: .settlesFor, from: code("NORTH"), to: code("WH-A"), validFrom: january), .purpose),
            (Relation(kind: .transfersWith, from: code("WH-A"), to: code("WH-B"), leadTimeHours: 4, validFrom: january), .distanceKm),
            (Relation(kind: .transfersWith, from: code("WH-A"), to: code("WH-B"), distanceKm: 10_001, leadTimeHours: 4, validFrom: january), .distanceKm),
            (Relation(kind: .transfersWith, from: code("WH-A"), to: code("WH-B"), distanceKm: 5, leadTimeHours: 2_001, validFrom: january), .leadTimeHours),
            (Relation(kind: .reportsTo, from: code("WH-A"), to: code("HQ"), markupBasisPoints: 1, validFrom: january), .markupBasisPoints),
            (Relation(kind: .transfersWith, from: code("WH-A"), to: code("WH-B"), distanceKm: 5, leadTimeHours: 2, markupBasisPoints: 10_001, validFrom: january), .markupBasisPoints),
        ]
        for (relation, field) in cases {
            #expect(relation.formProblems().map(\.field) == [field], "\(relation)")
        }
    }

    @Test func laneAttributesArePresentExactlyOnLanes() {
        let stray = Relation(kind: .reportsTo, from: code("WH-A"), to: code("HQ"), distanceKm: 5, validFrom: january)
        #expect(OrgMatrix(orgs: orgs, relations: [stray]).problems().map(\.field).contains("relations[0].distance_km"))
        let bare = Relation(kind: .transfersWith, from: code("WH-A"), to: code("WH-B"), validFrom: january)
        #expect(OrgMatrix(orgs: orgs, relations: [bare]).problems().map(\.field).contains("relations[0].lead_time_hours"))
    }
}

@Suite struct VisibleSetTests {
    @Test func parentsReadThroughChildrenButNotSiblingsOrLanes() {
        let matrix = OrgMatrix(
            orgs: [org("HQ", .virtual, [.settlement]), org("NORTH", .virtual, [.settlement]), org("WH-A"), org("WH-B"), org("WH-C")],
            relations: [
                edge(.reportsTo, "NORTH", "HQ"), edge(.reportsTo, "WH-A", "HQ"), edge(.reportsTo, "WH-B", "WH-A"),
                edge(.reportsTo, "WH-C", "WH-A"), edge(.settlesFor, "NORTH", "WH-C"), edge(.transfersWith, "WH-B", "WH-C"),
            ])
        let now = january.addingTimeInterval(day)
        #expect(matrix.visibleSet(of: code("HQ"), at: now).count == 5)
        #expect(matrix.visibleSet(of: code("WH-A"), at: now) == [code("WH-A"), code("WH-B"), code("WH-C")])
        #expect(matrix.visibleSet(of: code("WH-B"), at: now) == [code("WH-B")])
        #expect(matrix.visibleSet(of: code("NORTH"), at: now) == [code("NORTH"), code("WH-C")])
    }

    @Test func aPastDateUsesTheMatrixValidThen() {
        let moved = january.addingTimeInterval(30 * day)
        let matrix = OrgMatrix(
            orgs: [org("HQ", .virtual, [.settlement]), org("WH-A"), org("WH-B")],
            relations: [
                edge(.reportsTo, "WH-A", "HQ"), edge(.reportsTo, "WH-B", "HQ", to: moved), edge(.reportsTo, "WH-B", "WH-A", from: moved),
            ])
        #expect(!matrix.visibleSet(of: code("WH-A"), at: moved.addingTimeInterval(-1)).contains(code("WH-B")))
        #expect(matrix.visibleSet(of: code("WH-A"), at: moved).contains(code("WH-B")))
        #expect(matrix.visibleSet(of: code("WH-A"), at: january.addingTimeInterval(-1)) == [code("WH-A")])
    }
}

/// Properties of the visible set over many random matrices (a fixed seed, so failures reproduce).
@Suite struct VisibleSetPropertyTests {
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    /// A random valid matrix: a reports_to forest (parents have lower numbers, so no cycles),
    /// random settles_for / supervises / lanes, some of them ended or not yet started.
    static func randomMatrix(seed: UInt64) -> OrgMatrix {
        var random = Generator(state: seed)
        let count = 2 + random.next(40)
        let orgs = (0..<count).map { index in
            index % 5 == 1
                ? org("V\(index)", .virtual, [.settlement, .supervisory]) : org("P\(index)", .physical, [.fulfilment])
        }
        func moment() -> Date { january.addingTimeInterval(Double(random.next(100)) * day) }
        var relations: [Relation] = []
        for index in 1..<count where random.next(4) != 0 {
            relations.append(edge(.reportsTo, orgs[index].code.rawValue, orgs[random.next(index)].code.rawValue))
        }
        for _ in 0..<random.next(count) {
            let from = orgs[random.next(count)]
            let to = orgs[random.next(count)]
            guard from.code != to.code else { continue }
            let start = moment()
            let end = random.next(3) == 0 ? start.addingTimeInterval(Double(1 + random.next(50)) * day) : nil
            if from.kind == .virtual, to.kind == .physical {
                relations.append(edge(random.next(2) == 0 ? .settlesFor : .supervises, from.code.rawValue, to.code.rawValue, from: start, to: end))
            } else if from.kind == .physical, to.kind == .physical {
                relations.append(edge(.transfersWith, from.code.rawValue, to.code.rawValue, from: start, to: end))
            }
        }
        var unique: [Relation] = []
        for relation in relations where !unique.contains(where: { $0.linkKey == relation.linkKey }) { unique.append(relation) }
        return OrgMatrix(orgs: orgs, relations: unique)
    }

    @Test(arguments: 0..<200)
    func closureProperties(seed: Int) {
        let matrix = Self.randomMatrix(seed: UInt64(seed))
        #expect(matrix.problems().isEmpty)
        var random = Generator(state: UInt64(seed) &* 31)
        let moment = january.addingTimeInterval(Double(random.next(160)) * day)
        let codes = Array(matrix.orgs.keys)
        let visible = Dictionary(uniqueKeysWithValues: codes.map { ($0, matrix.visibleSet(of: $0, at: moment)) })
        for org in codes {
            let set = visible[org]!
            #expect(set.contains(org))
            // Transitive: what a visible org sees, the viewer sees too.
            for member in set { #expect(visible[member]!.isSubset(of: set)) }
            // Closed: the set is exactly the org plus the sets of its direct downward neighbours.
            let direct = matrix.relations.filter { $0.isValid(at: moment) && $0.kind != .transfersWith }
                .compactMap { $0.kind == .reportsTo ? ($0.to == org ? $0.from : nil) : ($0.from == org ? $0.to : nil) }
            let union = direct.reduce(into: Set([org])) { $0.formUnion(visible[$1]!) }
            #expect(union == set)
            // Lanes never grant visibility: removing them changes nothing.
            let withoutLanes = OrgMatrix(orgs: Array(matrix.orgs.values), relations: matrix.relations.filter { $0.kind != .transfersWith })
            #expect(withoutLanes.visibleSet(of: org, at: moment) == set)
        }
        // A root of the hierarchy with no other edges sees exactly its reports_to subtree.
        let reportsTo = matrix.relations.filter { $0.kind == .reportsTo }
        let roots = codes.filter { code in !reportsTo.contains { $0.from == code } }
        let hierarchyOnly = OrgMatrix(orgs: Array(matrix.orgs.values), relations: reportsTo)
        let covered = roots.reduce(into: Set<OrgCode>()) { $0.formUnion(hierarchyOnly.visibleSet(of: $1, at: moment)) }
        #expect(covered == Set(codes))
    }

    @Test(arguments: 0..<50)
    func addingAnEdgeFromADescendantUpwardsIsACycle(seed: Int) {
        let matrix = Self.randomMatrix(seed: UInt64(seed) + 1000)
        let moment = january.addingTimeInterval(day)
        let hierarchy = OrgMatrix(orgs: Array(matrix.orgs.values), relations: matrix.relations.filter { $0.kind == .reportsTo })
        for relation in hierarchy.relations.prefix(3) {
            // relation.from reports to relation.to; make relation.to's root report to relation.from.
            var root = relation.to
            while let parent = hierarchy.parent(of: root, at: moment) { root = parent }
            let closing = edge(.reportsTo, root.rawValue, relation.from.rawValue)
            let problems = OrgMatrix(orgs: Array(matrix.orgs.values), relations: hierarchy.relations + [closing]).problems()
            #expect(problems.contains { $0.reason.contains("cycle") })
        }
    }
}
