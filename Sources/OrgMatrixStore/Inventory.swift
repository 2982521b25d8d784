import Foundation
import OrgMatrixCore
import PostgresNIO

/// An item of the tenant's catalogue.
public struct Item: Sendable, Hashable {
    public let id: Int64
    public let code: String
    public let name: String
    public let baseUnit: String
    public let quantityScale: Int64
    public let weightGramsPerUnit: Int64
    public let category: String
    public let shelfLifeDays: Int32
    public let taxCode: String
    public let taxRateBasisPoints: Int32

    public init(
        id: Int64 = 0, code: String, name: String, baseUnit: String, quantityScale: Int64, weightGramsPerUnit: Int64, category: String,
        shelfLifeDays: Int32, taxCode: String, taxRateBasisPoints: Int32
    ) {
        (self.id, self.code, self.name, self.baseUnit, self.quantityScale) = (id, code, name, baseUnit, quantityScale)
        (self.weightGramsPerUnit, self.category, self.shelfLifeDays) = (weightGramsPerUnit, category, shelfLifeDays)
        (self.taxCode, self.taxRateBasisPoints) = (taxCode, taxRateBasisPoints)
    }
}

extension Item {
    /// An item code such as `MILK-FRESH`: 2–40 upper-case letters, digits or dashes, not starting with a dash.
    public static func isCode(_ text: String) -> Bool { text.wholeMatch(of: /[A-Z0-9][A-Z0-9-]{1,39}/) != nil }

    /// What is wrong with a new item, field by field (the API's field names), before the
    /// database's CHECKs: what the API and seed files check a new item by.
    public var problems: [MatrixProblem] {
        var problems: [MatrixProblem] = []
        func check(_ condition: Bool, _ field: String, _ reason: String) {
            if !condition { problems.append(MatrixProblem(field: field, reason: reason)) }
        }
        check(Self.isCode(code), "code", "must be 2–40 upper-case letters, digits or dashes")
        // Lengths in code points, as JSON Schema's minLength/maxLength count them.
        check((1...200).contains(name.unicodeScalars.count), "name", "must be 1–200 characters")
        check((1...10).contains(baseUnit.unicodeScalars.count), "baseUnit", "must be 1–10 characters")
        check([1, 10, 100, 1000, 10000, 100_000, 1_000_000].contains(quantityScale), "quantityScale", "must be a power of ten, 1–1000000")
        check((0...100_000_000).contains(weightGramsPerUnit), "weightGramsPerUnit", "must be 0–100000000")
        check(category.wholeMatch(of: /[a-z][a-z0-9_]{1,39}/) != nil, "category", "must be 2–40 lower-case letters, digits or underscores")
        check((1...36500).contains(shelfLifeDays), "shelfLifeDays", "must be 1–36500")
        check(taxCode.wholeMatch(of: /[0-9]{19}/) != nil, "taxCode", "must be the 19-digit 税收分类编码")
        check((0...10000).contains(taxRateBasisPoints), "taxRateBasisPoints", "must be 0–10000")
        return problems
    }
}

/// A stock balance of one org and item.
public struct StockBalance: Sendable, Hashable {
    public let orgCode: String
    public let item: Item
    public let onHandScaled: Int64
    public let inTransitScaled: Int64
    public let valueFen: Int64

    /// The moving-average unit cost in fen per base unit, rounded half-even; 0 when nothing is
    /// on hand, nil when the stored value spread over the stored quantity does not fit `Int64`.
    public var unitCostFen: Int64? {
        try? MovingAverage.unitCost(valueFen: valueFen, quantityScaled: onHandScaled, scale: item.quantityScale)
    }
}

public struct StockMove: Sendable, Hashable {
    public let id: Int64
    public let orgCode: String
    public let itemCode: String
    public let quantityScaled: Int64
    public let quantityScale: Int64
    public let valueFen: Int64
    public let unitCostFen: Int64
    public let documentType: String
    public let documentID: Int64
    /// Which part of the balance the move changes: `on_hand` or `in_transit` (a transfer's).
    public let bucket: String
    public let occurredAt: Date
}

/// A line of a posting as requested: item code, quantity text, and a unit cost or price in fen.
public struct PostingLine: Sendable, Hashable {
    public let itemCode: String
    public let quantity: String
    public let unitFen: Int64

    public init(itemCode: String, quantity: String, unitFen: Int64) {
        (self.itemCode, self.quantity, self.unitFen) = (itemCode, quantity, unitFen)
    }
}

public struct PostedDocument: Sendable, Hashable {
    public struct Line: Sendable, Hashable {
        public let itemCode: String
        public let quantityScaled: Int64
        public let quantityScale: Int64
        public let unitFen: Int64
        public let amountFen: Int64
        public let costFen: Int64
    }

    public let id: Int64
    public let type: String
    public let orgCode: String
    public let counterparty: String
    public let settlementOrgCode: String?
    public let lines: [Line]
}

/// Limits on postings.
public enum PostingLimits {
    public static let linesMax = 200
}

extension Sandbox {
    /// A page of the catalogue in code order, after the code `cursor`.
    public func items(after cursor: String?, limit: Int) async throws -> [Item] {
        let rows = try await connection.query(
            """
            SELECT item_id, code, name, base_unit, quantity_scale, weight_grams_per_unit, category, shelf_life_days, tax_code,
                tax_rate_basis_points
            FROM items WHERE tenant_id = \(principal.tenantID.rawValue) AND code > \(cursor ?? "")
            ORDER BY code LIMIT \(limit)
            """, logger: logger)
        var items: [Item] = []
        for try await row in rows { items.append(try Self.item(row)) }
        return items
    }

    /// The tenant's items with these codes, by code: what a posting or quote looks its lines up
    /// in, whatever the size of the catalogue.
    func items(codes: [String]) async throws -> [String: Item] {
        let rows = try await connection.query(
            """
            SELECT item_id, code, name, base_unit, quantity_scale, weight_grams_per_unit, category, shelf_life_days, tax_code,
                tax_rate_basis_points
            FROM items WHERE tenant_id = \(principal.tenantID.rawValue) AND code = ANY(\(codes))
            """, logger: logger)
        var items: [String: Item] = [:]
        for try await row in rows {
            let item = try Self.item(row)
            items[item.code] = item
        }
        return items
    }

    public func createItem(_ item: Item) async throws -> Item {
        try require(.administer)
        if try await !items(codes: [item.code]).isEmpty {
            throw StoreError(.conflict, "An item with code \(item.code) exists already.", field: "code")
        }
        let id = try await connection.query(
            """
            INSERT INTO items (tenant_id, code, name, base_unit, quantity_scale, weight_grams_per_unit, category, shelf_life_days,
                tax_code, tax_rate_basis_points)
            VALUES (\(principal.tenantID.rawValue), \(item.code), \(item.name), \(item.baseUnit), \(item.quantityScale),
                \(item.weightGramsPerUnit), \(item.category), \(item.shelfLifeDays), \(item.taxCode), \(item.taxRateBasisPoints))
            RETURNING item_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
        try await audit("item.create", subject: item.code, detail: ["name": item.name])
        return Item(
            id: id, code: item.code, name: item.name, baseUnit: item.baseUnit, quantityScale: item.quantityScale,
            weightGramsPerUnit: item.weightGramsPerUnit, category: item.category, shelfLifeDays: item.shelfLifeDays, taxCode: item.taxCode,
            taxRateBasisPoints: item.taxRateBasisPoints)
    }

    /// A page of the balances the principal can see, in (org code, item code) order after
    /// `cursor`, optionally of one org and of some items only.
    public func balances(
        org: String?, item: String?, after cursor: (orgCode: String, itemCode: String)? = nil, limit: Int = PageLimits.maximumCount
    ) async throws -> [StockBalance] {
        try await balances(org: org, itemCodes: item.map { [$0] }, after: cursor, limit: limit)
    }

    /// The balances of `org` in these items, however many: what a quote or a transfer looks up.
    func balances(org: String, itemCodes: [String]) async throws -> [StockBalance] {
        try await balances(org: org, itemCodes: itemCodes, after: nil, limit: itemCodes.count)
    }

    private func balances(
        org: String?, itemCodes: [String]?, after cursor: (orgCode: String, itemCode: String)?, limit: Int
    ) async throws -> [StockBalance] {
        let rows = try await connection.query(
            """
            SELECT o.code, i.item_id, i.code, i.name, i.base_unit, i.quantity_scale, i.weight_grams_per_unit, i.category,
                i.shelf_life_days, i.tax_code, i.tax_rate_basis_points, b.on_hand_scaled, b.in_transit_scaled, b.value_fen
            FROM stock_balances b
            JOIN orgs o ON o.tenant_id = b.tenant_id AND o.org_id = b.org_id
            JOIN items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
            WHERE b.tenant_id = \(principal.tenantID.rawValue) AND (\(org)::text IS NULL OR o.code = \(org))
              AND (\(itemCodes)::text[] IS NULL OR i.code = ANY(\(itemCodes)))
              AND (o.code, i.code) > (\(cursor?.orgCode ?? ""), \(cursor?.itemCode ?? ""))
            ORDER BY o.code, i.code LIMIT \(limit)
            """, logger: logger)
        var balances: [StockBalance] = []
        for try await row in rows {
            let columns = try row.decode(
                (String, Int64, String, String, String, Int64, Int64, String, Int32, String, Int32, Int64, Int64, Int64).self)
            let item = Item(
                id: columns.1, code: columns.2, name: columns.3, baseUnit: columns.4, quantityScale: columns.5, weightGramsPerUnit: columns.6,
                category: columns.7, shelfLifeDays: columns.8, taxCode: columns.9, taxRateBasisPoints: columns.10)
            balances.append(StockBalance(orgCode: columns.0, item: item, onHandScaled: columns.11, inTransitScaled: columns.12, valueFen: columns.13))
        }
        return balances
    }

    public func stockMoves(after cursor: Int64?, limit: Int) async throws -> [StockMove] {
        let rows = try await connection.query(
            """
            SELECT m.move_id, o.code, i.code, m.quantity_scaled, i.quantity_scale, m.value_fen, m.unit_cost_fen, m.document_type,
                m.document_id, m.bucket, m.occurred_at
            FROM stock_moves m
            JOIN orgs o ON o.tenant_id = m.tenant_id AND o.org_id = m.org_id
            JOIN items i ON i.tenant_id = m.tenant_id AND i.item_id = m.item_id
            WHERE m.tenant_id = \(principal.tenantID.rawValue) AND m.move_id > \(cursor ?? 0)
            ORDER BY m.move_id LIMIT \(limit)
            """, logger: logger)
        var moves: [StockMove] = []
        for try await row in rows {
            let c = try row.decode((Int64, String, String, Int64, Int64, Int64, Int64, String, Int64, String, Date).self)
            moves.append(StockMove(
                id: c.0, orgCode: c.1, itemCode: c.2, quantityScaled: c.3, quantityScale: c.4, valueFen: c.5, unitCostFen: c.6,
                documentType: c.7, documentID: c.8, bucket: c.9, occurredAt: c.10))
        }
        return moves
    }

    /// Goods received from a supplier into the principal's own (physical) org; the cost raises the
    /// moving average. The moves are the only write: the database adds them to the balances.
    public func postPurchaseReceipt(supplier: String, lines: [PostingLine]) async throws -> PostedDocument {
        let resolved = try await resolvePosting(lines, counterparty: supplier, counterpartyField: "supplier", unitField: "unitCostFen")
        let receiptID = try await connection.query(
            """
            INSERT INTO purchase_receipts (tenant_id, org_id, supplier, principal_id, request_id)
            VALUES (\(principal.tenantID.rawValue), \(principal.orgID.rawValue), \(supplier), \(principal.principalID), \(requestID))
            RETURNING receipt_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
        var posted: [PostedDocument.Line] = []
        var moves: [Move] = []
        for (index, (item, quantity, unitCost)) in resolved.enumerated() {
            let amount = try inRange("lines[\(index)]") { () throws(OutOfRange) in
                try MovingAverage.lineValue(unitCostFen: unitCost, quantityScaled: quantity, scale: item.quantityScale)
            }
            try await connection.query(
                """
                INSERT INTO purchase_receipt_lines (tenant_id, receipt_id, line_no, org_id, item_id, quantity_scaled, unit_cost_fen, amount_fen)
                VALUES (\(principal.tenantID.rawValue), \(receiptID), \(index + 1), \(principal.orgID.rawValue), \(item.id), \(quantity),
                    \(unitCost), \(amount))
                """, logger: logger)
            moves.append(Move(itemID: item.id, quantityScaled: quantity, valueFen: amount, unitCostFen: unitCost))
            posted.append(.init(itemCode: item.code, quantityScaled: quantity, quantityScale: item.quantityScale, unitFen: unitCost, amountFen: amount, costFen: amount))
        }
        try await insertMoves(moves, document: ("purchase_receipt", receiptID))
        try await audit("purchase_receipt.post", subject: String(receiptID), detail: ["supplier": supplier, "lines": String(posted.count)])
        return PostedDocument(id: receiptID, type: "purchase_receipt", orgCode: principal.orgCode.rawValue, counterparty: supplier, settlementOrgCode: nil, lines: posted)
    }

    /// Goods sold out of the principal's own org, booked by the settlement org that settles its
    /// sales; cost of goods at the moving average. Stock never goes negative: the balance row is
    /// locked, and the database's CHECK stands behind it; the moves take the stock off.
    public func postSalesIssue(customer: String, settlementOrg: String?, lines: [PostingLine]) async throws -> PostedDocument {
        let resolved = try await resolvePosting(lines, counterparty: customer, counterpartyField: "customer", unitField: "unitPriceFen")
        let settlement = try await settlingOrg(requested: settlementOrg)
        let issueID = try await connection.query(
            """
            INSERT INTO sales_issues (tenant_id, org_id, settlement_org_id, customer, principal_id, request_id)
            VALUES (\(principal.tenantID.rawValue), \(principal.orgID.rawValue), \(settlement.id), \(customer), \(principal.principalID),
                \(requestID))
            RETURNING issue_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
        var posted: [PostedDocument.Line] = []
        var moves: [Move] = []
        var balances = try await lockedBalances(itemIDs: resolved.map(\.0.id))
        for (index, (item, quantity, unitPrice)) in resolved.enumerated() {
            let balance = balances[item.id] ?? Balance(onHandScaled: 0, valueFen: 0)
            guard balance.onHandScaled >= quantity else {
                let shortfall = ScaledQuantity.format(quantity - balance.onHandScaled, scale: item.quantityScale)
                throw StoreError(
                    .conflict,
                    "Insufficient stock of \(item.code) at \(principal.orgCode): "
                        + "\(ScaledQuantity.format(balance.onHandScaled, scale: item.quantityScale)) \(item.baseUnit) on hand, "
                        + "short by \(shortfall) \(item.baseUnit).",
                    field: "lines[\(index)].quantity")
            }
            let (cost, revenue, unitCost) = try inRange("lines[\(index)]") { () throws(OutOfRange) in
                let cost = try MovingAverage.issueCost(valueFen: balance.valueFen, onHandScaled: balance.onHandScaled, quantityScaled: quantity)
                return (
                    cost, try MovingAverage.lineValue(unitCostFen: unitPrice, quantityScaled: quantity, scale: item.quantityScale),
                    try MovingAverage.unitCost(valueFen: cost, quantityScaled: quantity, scale: item.quantityScale)
                )
            }
            // A later line of the same item issues from what this one left.
            balances[item.id] = Balance(onHandScaled: balance.onHandScaled - quantity, valueFen: balance.valueFen - cost)
            try await connection.query(
                """
                INSERT INTO sales_issue_lines (tenant_id, issue_id, line_no, org_id, item_id, quantity_scaled, unit_price_fen, revenue_fen, cost_fen)
                VALUES (\(principal.tenantID.rawValue), \(issueID), \(index + 1), \(principal.orgID.rawValue), \(item.id), \(quantity),
                    \(unitPrice), \(revenue), \(cost))
                """, logger: logger)
            moves.append(Move(itemID: item.id, quantityScaled: -quantity, valueFen: -cost, unitCostFen: unitCost))
            posted.append(.init(itemCode: item.code, quantityScaled: quantity, quantityScale: item.quantityScale, unitFen: unitPrice, amountFen: revenue, costFen: cost))
        }
        try await insertMoves(moves, document: ("sales_issue", issueID))
        try await audit(
            "sales_issue.post", subject: String(issueID), detail: ["customer": customer, "settlement_org": settlement.code, "lines": String(posted.count)])
        return PostedDocument(
            id: issueID, type: "sales_issue", orgCode: principal.orgCode.rawValue, counterparty: customer, settlementOrgCode: settlement.code,
            lines: posted)
    }

    // MARK: private

    private static func item(_ row: PostgresRow) throws -> Item {
        let c = try row.decode((Int64, String, String, String, Int64, Int64, String, Int32, String, Int32).self)
        return Item(
            id: c.0, code: c.1, name: c.2, baseUnit: c.3, quantityScale: c.4, weightGramsPerUnit: c.5, category: c.6, shelfLifeDays: c.7,
            taxCode: c.8, taxRateBasisPoints: c.9)
    }

    /// Checks who may post and what: a writing role, a physical acting org, known items,
    /// quantities that fit each item's scale. Every problem names its field.
    private func resolvePosting(
        _ lines: [PostingLine], counterparty: String, counterpartyField: String, unitField: String
    ) async throws -> [(Item, Int64, Int64)] {
        try await authorize(.postDocuments)
        guard (1...200).contains(counterparty.unicodeScalars.count) else {
            throw StoreError(.invalid, "\(counterpartyField) must be 1–200 characters.", field: counterpartyField)
        }
        guard !lines.isEmpty, lines.count <= PostingLimits.linesMax else {
            throw StoreError(.invalid, "A document has 1–\(PostingLimits.linesMax) lines.", field: "lines")
        }
        let catalogue = try await items(codes: lines.map(\.itemCode))
        var resolved: [(Item, Int64, Int64)] = []
        for (index, line) in lines.enumerated() {
            guard let item = catalogue[line.itemCode] else {
                throw StoreError(.notFound, "No item \(line.itemCode) in this tenant.", field: "lines[\(index)].item")
            }
            let quantity: Int64
            do {
                quantity = try ScaledQuantity.parse(line.quantity, scale: item.quantityScale)
            } catch {
                throw StoreError(quantity: error, Self.describe(error, item: item), field: "lines[\(index)].quantity")
            }
            guard (0...Bounds.unitFenMax).contains(line.unitFen) else {
                throw StoreError(.invalid, "Unit amounts are 0–\(Bounds.unitFenMax) fen per base unit.", field: "lines[\(index)].\(unitField)")
            }
            resolved.append((item, quantity, line.unitFen))
        }
        return resolved
    }

    static func describe(_ problem: ScaledQuantity.Problem, item: Item) -> String {
        switch problem {
        case .notADecimal: "Quantity must be a decimal string such as \"12.5\" (\(item.baseUnit))."
        case .tooManyDecimals(let allowed): "\(item.code) is counted in \(item.baseUnit) with at most \(allowed) decimals."
        case .notPositive: "Quantity must be positive."
        case .tooLarge: "Quantity is too large."
        }
    }

    /// The settlement org that settles this org's sales now: the requested one if it does, else
    /// the only one.
    private func settlingOrg(requested: String?) async throws -> (id: Int64, code: String) {
        let rows = try await connection.query(
            """
            SELECT from_org_id, from_code FROM relations
            WHERE tenant_id = \(principal.tenantID.rawValue) AND kind = 'settles_for' AND to_org_id = \(principal.orgID.rawValue)
              AND purpose IN ('sales', 'all') AND valid_from <= now() AND (valid_to IS NULL OR now() < valid_to)
            ORDER BY from_code
            """, logger: logger
        ).collect().map { try $0.decode((Int64, String).self) }
        if let requested {
            guard let match = rows.first(where: { $0.1 == requested }) else {
                throw StoreError(.conflict, "\(requested) does not settle sales for \(principal.orgCode).", field: "settlementOrg")
            }
            return match
        }
        guard rows.count == 1 else {
            throw StoreError(
                .conflict,
                rows.isEmpty ? "No settlement org settles sales for \(principal.orgCode)."
                    : "Several orgs settle sales for \(principal.orgCode) (\(rows.map(\.1).joined(separator: ", "))); name one.",
                field: "settlementOrg")
        }
        return rows[0]
    }

    /// The acting org's balances of `itemIDs`, locked until the transaction ends so concurrent
    /// postings on them queue instead of overselling or losing an update. The database locks
    /// them in item order (`app_lock_balances`), so two postings never hold one row each while
    /// waiting for the other's, and creates those that do not exist yet as zeros, so a balance
    /// no posting held before is locked too: the second of two counts waits for the first.
    func lockedBalances(itemIDs: [Int64]) async throws -> [Int64: Balance] {
        let rows = try await connection.query(
            "SELECT item_id, on_hand_scaled, value_fen FROM app_lock_balances(\(itemIDs))", logger: logger)
        var balances: [Int64: Balance] = [:]
        for try await (itemID, onHand, value) in rows.decode((Int64, Int64, Int64).self) {
            balances[itemID] = Balance(onHandScaled: onHand, valueFen: value)
        }
        return balances
    }

    /// Appends stock moves of one document, in the given order, with one statement: the only
    /// stock write. The database adds them to the acting org's balances in the same statement
    /// (creating those it lacks, locked in item order like every lock on balances).
    func insertMoves(_ moves: [Move], document: (type: String, id: Int64)) async throws {
        try await connection.query(
            """
            INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id,
                principal_id, bucket)
            SELECT \(principal.tenantID.rawValue), \(principal.orgID.rawValue), m.item_id, m.quantity, m.value, m.unit_cost,
                \(document.type), \(document.id), \(principal.principalID), m.bucket
            FROM unnest(\(moves.map(\.itemID))::bigint[], \(moves.map(\.quantityScaled))::bigint[], \(moves.map(\.valueFen))::bigint[],
                \(moves.map(\.unitCostFen))::bigint[], \(moves.map(\.bucket.rawValue))::text[])
                WITH ORDINALITY AS m (item_id, quantity, value, unit_cost, bucket, position)
            ORDER BY m.position
            """, logger: logger)
    }
}

/// A locked stock balance as read.
struct Balance {
    var onHandScaled: Int64
    var valueFen: Int64
}

/// A stock move about to be appended: signed quantity and value, unit cost at the move, and
/// the part of the balance it changes.
struct Move {
    /// On hand, or on the road between a transfer's dispatch and its receipt.
    enum Bucket: String {
        case onHand = "on_hand"
        case inTransit = "in_transit"
    }

    let itemID: Int64
    let quantityScaled: Int64
    let valueFen: Int64
    let unitCostFen: Int64
    var bucket: Bucket = .onHand
}

extension Sandbox {
    /// Runs `post` at most once per (principal, Idempotency-Key): a retry with the same body gets
    /// the first response again (`replayed`), with another body a 409. Without a key the post
    /// simply runs. A failed post stores nothing, so it can be retried with the same key.
    public func idempotent(
        key: String?, requestHash: String, _ post: () async throws -> (status: Int, body: String)
    ) async throws -> (status: Int, body: String, replayed: Bool) {
        guard let key else {
            let (status, body) = try await post()
            return (status, body, false)
        }
        guard key.wholeMatch(of: /[!-~]{1,200}/) != nil else {
            throw StoreError(.invalid, "Idempotency-Key must be 1–200 visible ASCII characters (no spaces).", field: "Idempotency-Key")
        }
        // Two retries racing with one key wait for each other here instead of both posting.
        try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtext(\(principal.tenantID.description)), hashtext(\(String(principal.principalID) + "/" + key)))",
            logger: logger)
        let stored = try await connection.query(
            """
            SELECT request_hash, response_status, response_body FROM idempotency_keys
            WHERE tenant_id = \(principal.tenantID.rawValue) AND principal_id = \(principal.principalID) AND idempotency_key = \(key)
            """, logger: logger
        ).collect().first
        if let stored {
            let (hash, status, body) = try stored.decode((String, Int, String).self)
            guard hash == requestHash else {
                throw StoreError(.conflict, "This Idempotency-Key was used with a different request.", field: "Idempotency-Key")
            }
            return (status, body, true)
        }
        let (status, body) = try await post()
        try await connection.query(
            """
            INSERT INTO idempotency_keys (tenant_id, principal_id, idempotency_key, org_id, request_hash, response_status, response_body)
            VALUES (\(principal.tenantID.rawValue), \(principal.principalID), \(key), \(principal.orgID.rawValue), \(requestHash), \(status), \(body))
            """, logger: logger)
        return (status, body, false)
    }
}

/// A counted line: the item, what was found, and (when the book holds none to value it by) the
/// unit cost of stock found beyond the book.
public struct CountLine: Sendable, Hashable {
    public let itemCode: String
    public let counted: String
    public let unitCostFen: Int64?

    public init(itemCode: String, counted: String, unitCostFen: Int64?) {
        (self.itemCode, self.counted, self.unitCostFen) = (itemCode, counted, unitCostFen)
    }
}

public struct PostedCount: Sendable, Hashable {
    public struct Line: Sendable, Hashable {
        public let item: Item
        public let bookScaled: Int64
        public let countedScaled: Int64
        public let adjustmentValueFen: Int64
    }

    public let id: Int64
    public let orgCode: String
    public let reason: String
    public let lines: [Line]
}

extension Sandbox {
    /// A stock count of the principal's own org: each difference between counted and book
    /// becomes an adjustment move, valued at the moving average (a gain needs a unit cost when
    /// the book holds nothing to average). The book is the locked balance, created as zero when
    /// the org never held the item, so a concurrent count or receipt waits and then counts from
    /// what this one left.
    public func postStockCount(reason: String, lines: [CountLine]) async throws -> PostedCount {
        try await authorize(.postDocuments)
        guard (3...500).contains(reason.unicodeScalars.count) else { throw StoreError(.invalid, "A count needs a reason of 3–500 characters.", field: "reason") }
        guard !lines.isEmpty, lines.count <= PostingLimits.linesMax else {
            throw StoreError(.invalid, "A count has 1–\(PostingLimits.linesMax) lines.", field: "lines")
        }
        let catalogue = try await items(codes: lines.map(\.itemCode))
        let countID = try await connection.query(
            """
            INSERT INTO stock_counts (tenant_id, org_id, reason, principal_id, request_id)
            VALUES (\(principal.tenantID.rawValue), \(principal.orgID.rawValue), \(reason), \(principal.principalID), \(requestID))
            RETURNING count_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
        var seen: Set<String> = []
        let countedItems = try lines.enumerated().map { index, line throws -> Item in
            guard let item = catalogue[line.itemCode] else {
                throw StoreError(.notFound, "No item \(line.itemCode) in this tenant.", field: "lines[\(index)].item")
            }
            guard seen.insert(item.code).inserted else {
                throw StoreError(.invalid, "\(item.code) is counted twice.", field: "lines[\(index)].item")
            }
            return item
        }
        let balances = try await lockedBalances(itemIDs: countedItems.map(\.id))
        var posted: [PostedCount.Line] = []
        var moves: [Move] = []
        for (index, (line, item)) in zip(lines, countedItems).enumerated() {
            let counted: Int64
            do {
                counted = try ScaledQuantity.parse(line.counted, scale: item.quantityScale, allowZero: true)
            } catch {
                throw StoreError(
                    quantity: error, "counted must be a decimal with at most \(item.code)'s decimals (\(ScaledQuantity.decimals(ofScale: item.quantityScale))), zero or more.",
                    field: "lines[\(index)].counted")
            }
            let (book, value) = balances[item.id].map { ($0.onHandScaled, $0.valueFen) } ?? (0, 0)
            if let unitCost = line.unitCostFen, !(0...Bounds.unitFenMax).contains(unitCost) {
                throw StoreError(.invalid, "Unit amounts are 0–\(Bounds.unitFenMax) fen per base unit.", field: "lines[\(index)].unitCostFen")
            }
            // Both are non-negative, so the difference fits.
            let difference = counted - book
            if difference > 0, book == 0, line.unitCostFen == nil {
                throw StoreError(
                    .conflict, "The book holds no \(item.code) to value the stock found by: give unitCostFen.", field: "lines[\(index)].unitCostFen")
            }
            let (adjustment, unitCost) = try inRange("lines[\(index)]", .conflict) { () throws(OutOfRange) in
                var adjustment: Int64 = 0
                if difference < 0 {
                    adjustment = -(try MovingAverage.issueCost(valueFen: value, onHandScaled: book, quantityScaled: -difference))
                } else if difference > 0 && book > 0 {
                    adjustment = try Rounding.halfEven(Int128(value) * Int128(difference), dividedBy: Int128(book), what: "the adjustment's value")
                } else if difference > 0 {
                    adjustment = try MovingAverage.lineValue(unitCostFen: line.unitCostFen ?? 0, quantityScaled: difference, scale: item.quantityScale)
                }
                // The balance the database will keep must fit too: refused here, the field is named.
                _ = try Checked.sum([value, adjustment], what: "the counted stock's value")
                return (
                    try Bounds.amount(adjustment, "the adjustment's value").fen,
                    try MovingAverage.unitCost(valueFen: adjustment, quantityScaled: difference, scale: item.quantityScale)
                )
            }
            try await connection.query(
                """
                INSERT INTO stock_count_lines (tenant_id, count_id, line_no, org_id, item_id, book_scaled, counted_scaled, adjustment_value_fen)
                VALUES (\(principal.tenantID.rawValue), \(countID), \(index + 1), \(principal.orgID.rawValue), \(item.id), \(book), \(counted),
                    \(adjustment))
                """, logger: logger)
            if difference != 0 {
                moves.append(Move(itemID: item.id, quantityScaled: difference, valueFen: adjustment, unitCostFen: unitCost))
            }
            posted.append(.init(item: item, bookScaled: book, countedScaled: counted, adjustmentValueFen: adjustment))
        }
        if !moves.isEmpty { try await insertMoves(moves, document: ("stock_count", countID)) }
        try await audit("stock_count.post", subject: String(countID), detail: ["reason": reason, "lines": String(posted.count)])
        return PostedCount(id: countID, orgCode: principal.orgCode.rawValue, reason: reason, lines: posted)
    }
}

extension Sandbox {
    /// Runs Core arithmetic on request figures, turning `OutOfRange` into an error naming
    /// `field`: `.invalid` (422) when the request's own figures overflow, `.conflict` (409) when
    /// stored ones take part (a balance, a lane, a transfer's price).
    func inRange<T>(_ field: String, _ code: StoreError.Code = .invalid, _ body: () throws(OutOfRange) -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch {
            throw StoreError(code, "\(error.what.prefix(1).uppercased() + error.what.dropFirst()) exceeds \(error.limit).", field: field)
        }
    }
}

extension StoreError {
    /// A quantity that does not parse for its item: more decimals than the stored item has is a
    /// conflict with stored data (409); anything else is the text's own fault (422).
    init(quantity problem: ScaledQuantity.Problem, _ detail: String, field: String) {
        if case .tooManyDecimals = problem {
            self.init(.conflict, detail, field: field)
        } else {
            self.init(.invalid, detail, field: field)
        }
    }
}
