import Logging
import OrgMatrixCore

/// The dairy demo's business data (`orgmatrix seed demo`, and the postings benchmark's scratch
/// database), posted through the same sandboxed Store calls the API uses, as the demo
/// principals. Runs once: it does nothing when the tenant has items already.
public struct DemoSeed {
    let database: Database
    let keys: [String: String]
    let logger: Logger

    /// `keys`: principal name → API key, as `tenant apply --keys-out` writes them.
    public init(database: Database, keys: [String: String], logger: Logger) {
        self.database = database
        self.keys = keys
        self.logger = logger
    }

    private func `as`<T: Sendable>(_ principal: String, _ body: @Sendable @escaping (Sandbox) async throws -> T) async throws -> T {
        guard let text = keys[principal], let key = APIKey(text) else { throw SettingsError("no key for \(principal) in the keys file") }
        return try await database.withSandbox(key: key, requestID: "seed", logger: logger, body)
    }

    public func run() async throws {
        if try await `as`("hq-admin", { try await $0.items(after: nil, limit: 1) }).isEmpty == false {
            print("demo data is present already; nothing to do")
            return
        }
        let items = [
            Item(code: "MILK-FRESH", name: "鲜牛奶", baseUnit: "L", quantityScale: 1000, weightGramsPerUnit: 1030, category: "fresh_milk",
                shelfLifeDays: 7, taxCode: "1030201010000000000", taxRateBasisPoints: 900),
            Item(code: "YOGURT", name: "风味酸奶", baseUnit: "kg", quantityScale: 1000, weightGramsPerUnit: 1000, category: "yogurt",
                shelfLifeDays: 21, taxCode: "1030201020000000000", taxRateBasisPoints: 1300),
            Item(code: "MILK-POWDER", name: "全脂奶粉", baseUnit: "kg", quantityScale: 1000, weightGramsPerUnit: 1000, category: "milk_powder",
                shelfLifeDays: 540, taxCode: "1030202010000000000", taxRateBasisPoints: 1300),
            Item(code: "CHEESE", name: "马苏里拉奶酪", baseUnit: "kg", quantityScale: 1000, weightGramsPerUnit: 1000, category: "cheese",
                shelfLifeDays: 180, taxCode: "1030203010000000000", taxRateBasisPoints: 1300),
        ]
        for item in items { _ = try await `as`("hq-admin") { try await $0.createItem(item) } }

        // Two weeks of raw milk from the banner's herders at the ranch base, 6 t a day.
        for day in 1...14 {
            let cost: Int64 = 372 + Int64(day % 5) * 4
            _ = try await `as`("ranch-operator") {
                try await $0.postPurchaseReceipt(
                    supplier: "正蓝旗牧民合作社 第\(day)天", lines: [PostingLine(itemCode: "MILK-FRESH", quantity: "6000", unitFen: cost)])
            }
        }
        // Opening stock of processed goods at the central warehouse.
        _ = try await `as`("central-operator") {
            try await $0.postPurchaseReceipt(
                supplier: "集团乳品加工厂 (期初)",
                lines: [
                    PostingLine(itemCode: "YOGURT", quantity: "8000", unitFen: 960),
                    PostingLine(itemCode: "MILK-POWDER", quantity: "20000", unitFen: 2800),
                    PostingLine(itemCode: "CHEESE", quantity: "3000", unitFen: 6200),
                ])
        }
        // Ranch → central warehouse, then central → four forward warehouses.
        var transfers = 0
        for trip in 1...8 {
            try await move(from: "ranch-operator", to: "BJ-CW", receiver: "central-operator", lines: [("MILK-FRESH", "9000")], freightVariancePpm: trip % 3 == 0 ? 6000 : -2000)
            transfers += 1
        }
        for (org, clerk) in [("SJZ-FW", "sjz-operator"), ("TY-FW", "ty-operator"), ("SH-FW", "sh-operator"), ("GZ-FW", "gz-operator")] {
            for _ in 1...2 {
                try await move(
                    from: "central-operator", to: org, receiver: clerk,
                    lines: [("MILK-FRESH", "4000"), ("YOGURT", "600"), ("MILK-POWDER", "1500"), ("CHEESE", "200")], freightVariancePpm: 3000)
                transfers += 1
            }
            // Sales booked by the provincial branch that settles the warehouse's sales.
            for (index, customer) in ["连锁超市", "便利店", "学校食堂", "电商仓"].enumerated() {
                _ = try await `as`(clerk) {
                    try await $0.postSalesIssue(
                        customer: "\(org) \(customer)", settlementOrg: nil,
                        lines: [
                            PostingLine(itemCode: "MILK-FRESH", quantity: String(900 + index * 150), unitFen: 620),
                            PostingLine(itemCode: "YOGURT", quantity: "120", unitFen: 1480),
                            PostingLine(itemCode: "MILK-POWDER", quantity: "300", unitFen: 4200),
                        ])
                }
            }
        }
        print("demo data: 4 items, 15 purchase receipts, \(transfers) transfers dispatched and received, 16 sales")
    }

    /// Creates, dispatches and receives a transfer; the actual freight differs from the
    /// estimate by `freightVariancePpm`, and a little milk is lost on the way.
    private func move(from sender: String, to: String, receiver: String, lines: [(String, String)], freightVariancePpm: Int64) async throws {
        let created = try await `as`(sender) {
            try await $0.createTransfer(to: try OrgCode(to), lines: lines.map { PostingLine(itemCode: $0.0, quantity: $0.1, unitFen: 0) })
        }
        _ = try await `as`(sender) { try await $0.dispatchTransfer(id: created.id) }
        let freight = created.lines.reduce(Int64(0)) { $0 + $1.freightFen }
        let actualFreight = try Rounding.halfEven(Int128(freight) * Int128(1_000_000 + freightVariancePpm), dividedBy: 1_000_000)
        _ = try await `as`(receiver) {
            try await $0.receiveTransfer(
                id: created.id, report: ReceiptReport(freightFen: actualFreight, insuranceFen: 0, lost: ["MILK-FRESH": "3.5"]))
        }
    }
}
