import Foundation
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import Testing

/// A small seed for `TenantFixture`'s tenant: milk bought at WH-A, shipped to WH-B, some of the
/// rest sold at WH-A (NORTH settles its sales). Its line numbers are what the problems name.
enum SmallSeed {
    static func yaml(tenant: String) -> String {
        """
        tenant: \(tenant)
        items:
          - {date: 2026-01-01, by: hq-admin, code: MILK-FRESH, name: 鲜牛奶, baseUnit: L, quantityScale: 1000, weightGramsPerUnit: 1030, category: fresh_milk, shelfLifeDays: 7, taxCode: "1030201010000000000", taxRateBasisPoints: 900}
        purchases:
          - date: 2026-01-02
            by: a-operator
            supplier: 牧场
            lines:
              - {item: MILK-FRESH, quantity: "100", unitCostFen: 380}
        transfers:
          - date: 2026-01-03
            by: a-operator
            to: WH-B
            lines:
              - {item: MILK-FRESH, quantity: "40"}
            dispatched: {date: 2026-01-03, by: a-operator}
            received:
              date: 2026-01-04
              by: b-operator
              freightFen: 297
              insuranceFen: 0
              lost: {MILK-FRESH: "0.5"}
        sales:
          - date: 2026-01-05
            by: a-operator
            customer: 超市
            lines:
              - {item: MILK-FRESH, quantity: "10", unitPriceFen: 620}

        """
    }

    /// The small seed with `old` replaced by `new` (which must be there).
    static func yaml(tenant: String, replacing old: String, with new: String) -> String {
        let original = yaml(tenant: tenant)
        precondition(original.contains(old), "the small seed has no \(old)")
        return original.replacingOccurrences(of: old, with: new)
    }
}

@Suite struct SeedFileTests {
    private func problems(_ yaml: String) -> [String] {
        do {
            _ = try SeedFile.parse(yaml: yaml, file: "seed.yaml")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func theSmallSeedIsValidAndPostsInDateOrder() throws {
        let seed = try SeedFile.parse(yaml: SmallSeed.yaml(tenant: "t-small"), file: "seed.yaml")
        #expect(seed.tenant.rawValue == "t-small")
        let kinds = seed.steps.map { step -> String in
            switch step.action {
            case .createItem: "item"
            case .openingStock: "opening"
            case .purchase: "purchase"
            case .createTransfer: "create"
            case .dispatchTransfer: "dispatch"
            case .receiveTransfer: "receive"
            case .sale: "sale"
            }
        }
        #expect(kinds == ["item", "purchase", "create", "dispatch", "receive", "sale"])
        #expect(
            seed.steps.map(\.principal) == ["hq-admin", "a-operator", "a-operator", "a-operator", "b-operator", "a-operator"])
        #expect(seed.steps.map(\.place.line) == [3, 5, 11, 16, 18, 24])
    }

    /// Dates order the postings across sections; on one date sections keep their order (a
    /// purchase before the transfer that ships it, whatever the file's order of sections).
    @Test func aDateOrdersPostingsAcrossSections() throws {
        let moved = SmallSeed.yaml(
            tenant: "t-small", replacing: "  - date: 2026-01-05\n    by: a-operator",
            with: "  - date: 2026-01-03\n    by: a-operator"
        )
        .replacingOccurrences(of: "  - date: 2026-01-02\n    by: a-operator", with: "  - date: 2026-01-03\n    by: a-operator")
        let seed = try SeedFile.parse(yaml: moved, file: "seed.yaml")
        // 01-03: the purchase, the transfer's creation and dispatch, then the sale; the receipt on 01-04.
        #expect(seed.steps.map(\.place.line) == [3, 5, 11, 16, 24, 18])
    }

    /// The demo data that `ops/run` loads is valid, and a transfer's steps come in their order.
    @Test func theDemoSeedIsValid() throws {
        let text = try String(
            contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Seeds/dairy-demo.yaml"), encoding: .utf8)
        let seed = try SeedFile.parse(yaml: text, file: "Seeds/dairy-demo.yaml")
        #expect(seed.tenant.rawValue == "dairy")
        #expect(zip(seed.steps, seed.steps.dropFirst()).allSatisfy { $0.date <= $1.date })
        var stage: [Int: Int] = [:]
        for step in seed.steps {
            switch step.action {
            case .createTransfer(let transfer, _, _): #expect(stage.updateValue(1, forKey: transfer) == nil)
            case .dispatchTransfer(let transfer, _): #expect(stage.updateValue(2, forKey: transfer) == 1)
            case .receiveTransfer(let transfer, _): #expect(stage.updateValue(3, forKey: transfer) == 2)
            default: break
            }
        }
        #expect(!stage.isEmpty && stage.values.allSatisfy { $0 == 3 })
    }

    static let badFiles: [(old: String, new: String, expected: String)] = [
        // wrong type: a YAML number where a quantity string belongs
        (
            #"quantity: "100""#, "quantity: 100",
            #"seed.yaml:9: purchases[0].lines[0].quantity: must be a quoted decimal string such as "12.5", not the number 100"#
        ),
        (
            #"quantity: "100""#, "quantity: 100.5",
            "seed.yaml:9: purchases[0].lines[0].quantity: must be a quoted decimal string such as \"12.5\", not the floating-point number 100.5"
        ),
        (
            "freightFen: 297", #"freightFen: "297""#,
            #"seed.yaml:20: transfers[0].received.freightFen: must be a whole number in digits, not text "297""#
        ),
        ("supplier: 牧场", "supplier: 12", "seed.yaml:7: purchases[0].supplier: must be text, not the number 12"),
        (
            "    lines:\n      - {item: MILK-FRESH, quantity: \"40\"}", "    lines: {item: MILK-FRESH}",
            "seed.yaml:14: transfers[0].lines: must be a list (- …), not a mapping"
        ),
        // a dispatch's carrier (its private values): text and digits, at least one, nothing else
        (
            "by: a-operator}", "by: a-operator, carrier: {contractPriceFen: \"12\"}}",
            #"seed.yaml:16: transfers[0].dispatched.carrier.contractPriceFen: must be a whole number in digits, not text "12""#
        ),
        ("by: a-operator}", "by: a-operator, carrier: {name: 7}}", "seed.yaml:16: transfers[0].dispatched.carrier.name: must be text, not the number 7"),
        ("by: a-operator}", "by: a-operator, carrier: {}}", "seed.yaml:16: transfers[0].dispatched.carrier: must give name, contractPriceFen or both"),
        (
            "by: a-operator}", "by: a-operator, carrier: {contractPriceFen: -5}}",
            "seed.yaml:16: transfers[0].dispatched.carrier.contractPriceFen: must be 0–1000000000000000 fen"
        ),
        (
            "by: a-operator}", "by: a-operator, carrier: {tip: 1}}",
            "seed.yaml:16: transfers[0].dispatched.carrier.tip: is not a field here; expected name, contractPriceFen"
        ),
        // unknown key, missing key
        (
            "supplier: 牧场", "vendor: 牧场",
            "seed.yaml:7: purchases[0].vendor: is not a field here; expected date, by, supplier, lines"
        ),
        ("supplier: 牧场", "vendor: 牧场", "seed.yaml:5: purchases[0].supplier: is required"),
        (
            "tenant: t-small", "tenant: t-small\nowner: me",
            "seed.yaml:2: owner: is not a field here; expected tenant, items, openingStock, purchases, transfers, sales"
        ),
        // bad quantities
        (
            #"quantity: "40""#, #"quantity: "40.0001""#,
            "seed.yaml:15: transfers[0].lines[0].quantity: MILK-FRESH is counted in L with at most 3 decimals."
        ),
        (
            #"quantity: "40""#, #"quantity: "-40""#,
            #"seed.yaml:15: transfers[0].lines[0].quantity: Quantity must be a decimal string such as "12.5" (L)."#
        ),
        (#"quantity: "40""#, #"quantity: "0""#, "seed.yaml:15: transfers[0].lines[0].quantity: Quantity must be positive."),
        (
            #"lost: {MILK-FRESH: "0.5"}"#, #"lost: {MILK-FRESH: "0.00001"}"#,
            "seed.yaml:22: transfers[0].received.lost.MILK-FRESH: MILK-FRESH is counted in L with at most 3 decimals."
        ),
        (
            #"lost: {MILK-FRESH: "0.5"}"#, #"lost: {YOGURT: "0.5"}"#,
            "seed.yaml:22: transfers[0].received.lost.YOGURT: YOGURT is not on this transfer's lines"
        ),
        // dates
        (
            "      date: 2026-01-04", "      date: 2026-02-30",
            "seed.yaml:18: transfers[0].received.date: 2026-02-30 is not a day of the calendar"
        ),
        (
            "      date: 2026-01-04", "      date: 4 Jan 2026",
            "seed.yaml:18: transfers[0].received.date: must be a date YYYY-MM-DD, such as 2026-01-05"
        ),
        (
            "      date: 2026-01-04", "      date: 2026-01-02",
            "seed.yaml:18: transfers[0].received.date: is before the transfer was dispatched"
        ),
        (
            "dispatched: {date: 2026-01-03,", "dispatched: {date: 2026-01-01,",
            "seed.yaml:16: transfers[0].dispatched.date: is before the transfer was created"
        ),
        (
            "    dispatched: {date: 2026-01-03, by: a-operator}\n", "",
            "seed.yaml:17: transfers[0].received: a transfer is received only once dispatched: add dispatched"
        ),
        // references
        (
            #"{item: MILK-FRESH, quantity: "10""#, #"{item: MILK-SOUR, quantity: "10""#,
            "seed.yaml:28: sales[0].lines[0].item: no item MILK-SOUR in this file's items"
        ),
        (
            "to: WH-B", "to: wh-b",
            "seed.yaml:13: transfers[0].to: must be 2–40 upper-case letters, digits or dashes, starting with a letter"
        ),
        (
            "tenant: t-small", "tenant: T Small",
            "seed.yaml:1: tenant: must be 2–63 lower-case letters, digits or dashes, starting with a letter"
        ),
        // an item the API would refuse
        ("quantityScale: 1000", "quantityScale: 7", "seed.yaml:3: items[0].quantityScale: must be a power of ten, 1–1000000"),
        // YAML itself
        (
            "    supplier: 牧场\n", "    supplier: 牧场\n    supplier: 农场\n",
            "seed.yaml:7: file: repeats the key supplier in one mapping"
        ),
        (#"unitPriceFen: 620}"#, "unitPriceFen: 620", "seed.yaml:29: file: is not valid YAML: "),
    ]

    @Test(arguments: badFiles.indices)
    func aBadFileNamesFileLineAndField(case index: Int) {
        let (old, new, expected) = Self.badFiles[index]
        let found = problems(SmallSeed.yaml(tenant: "t-small", replacing: old, with: new))
        #expect(found.contains { $0.hasPrefix(expected) }, "expected \(expected), got \(found)")
    }

    /// Problems are collected over the whole file, so it is fixed in one pass.
    @Test func everyProblemOfAFileIsReportedAtOnce() {
        let yaml = SmallSeed.yaml(tenant: "t-small", replacing: #"quantity: "100""#, with: "quantity: 100")
            .replacingOccurrences(of: "      date: 2026-01-04", with: "      date: 2026-13-01")
            .replacingOccurrences(of: "customer: 超市", with: "client: 超市")
        let found = problems(yaml)
        #expect(found.count == 4, "\(found)")
        #expect(found.contains { $0.hasPrefix("seed.yaml:9: purchases[0].lines[0].quantity:") })
        #expect(found.contains { $0.hasPrefix("seed.yaml:18: transfers[0].received.date:") })
        #expect(found.contains { $0.hasPrefix("seed.yaml:26: sales[0].client:") })
        #expect(found.contains { $0.hasPrefix("seed.yaml:24: sales[0].customer: is required") })
    }

    @Test func anEmptyFileIsAProblemAtLineOne() {
        #expect(problems("") == ["seed.yaml:1: file: is empty"])
        #expect(problems("- just\n- a list\n") == ["seed.yaml:1: file: must be a mapping (key: value), not a list"])
    }

    /// Every principal needs a key of the file's tenant; a problem names its first `by`.
    @Test func principalsWithoutAKeyOfTheTenantAreNamedAtTheirFirstEntry() throws {
        let seed = try SeedFile.parse(yaml: SmallSeed.yaml(tenant: "t-small"), file: "seed.yaml")
        let own = APIKey.generate(tenant: try TenantCode("t-small")).text
        let other = APIKey.generate(tenant: try TenantCode("t-other")).text
        let keys = try seed.keys(from: ["hq-admin": own, "a-operator": own, "b-operator": own], keysFile: "keys.json")
        #expect(Set(keys.keys) == ["hq-admin", "a-operator", "b-operator"])
        do {
            _ = try seed.keys(from: ["hq-admin": own, "a-operator": other, "x": own], keysFile: "keys.json")
            Issue.record("keys of another tenant and a missing key were accepted")
        } catch {
            #expect(
                error.problems.map(\.description) == [
                    "seed.yaml:6: purchases[0].by: a-operator has a key of tenant t-other in keys.json, and this file seeds tenant t-small",
                    "seed.yaml:19: transfers[0].received.by: b-operator has no key in keys.json",
                ])
        }
    }

    @Test func theGeneratorsParametersAreReadFromTheirFile() throws {
        let text = try String(
            contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Seeds/generated.yaml"), encoding: .utf8)
        let parameters = try GeneratorParameters.parse(yaml: text, file: "Seeds/generated.yaml")
        #expect(
            parameters == GeneratorParameters(tenant: try TenantCode("generated"), orgs: 100, items: 50, moves: 100_000, seed: 42)
        )
        let bad = "tenant: g\norgs: 1\nitems: \"5\"\nseed: 7\nextra: 1\n"
        do {
            _ = try GeneratorParameters.parse(yaml: bad, file: "gen.yaml")
            Issue.record("bad parameters were accepted")
        } catch {
            #expect(
                Set(error.problems.map(\.description)) == [
                    "gen.yaml:5: extra: is not a field here; expected tenant, orgs, items, moves, seed",
                    "gen.yaml:1: moves: is required",
                ])
        }
        do {
            _ = try GeneratorParameters.parse(yaml: "tenant: g\norgs: 1\nitems: \"5\"\nmoves: 0\nseed: 7\n", file: "gen.yaml")
            Issue.record("bad parameters were accepted")
        } catch {
            #expect(
                error.problems.map(\.description) == [
                    "gen.yaml:1: tenant: must be 2–63 lower-case letters, digits or dashes, starting with a letter",
                    "gen.yaml:2: orgs: must be 2–100000",
                    #"gen.yaml:3: items: must be a whole number in digits, not text "5""#,
                ])
        }
    }
}
