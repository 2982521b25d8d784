import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import SMCrypto

/// Items, stock, purchase receipts, sales issues and stock moves. Postings honour
/// `Idempotency-Key`; each runs in one sandboxed transaction, so a failed posting changes nothing.
struct InventoryController {
    let database: Database
    let bodyTimeout: Duration

    func register(on router: Router<AppRequestContext>) {
        let v1 = router.group("v1").add(middleware: BearerAuthMiddleware()).add(middleware: CollectBodyMiddleware(timeout: bodyTimeout))
        v1.get("items") { request, context in
            try await database.sandbox(context) { sandbox in
                let limit = try pageLimit(request)
                let items = try await sandbox.items(after: try itemCodeQuery(request, "cursor"), limit: limit)
                return ListView(items: items.map(ItemBody.init), nextCursor: items.count == limit ? items.last?.code : nil)
            }
        }
        v1.post("items") { request, context in
            try await post(request, context, may: .administer) { sandbox in
                let item = try context.decodeJSON(as: ItemBody.self, request).item()
                return (201, try encode(ItemBody(try await sandbox.createItem(item))))
            }
        }
        v1.get("stock") { request, context in
            try await database.sandbox(context) { sandbox in
                let org = try request.query("org")
                let item = try itemCodeQuery(request, "item")
                let limit = try pageLimit(request)
                let cursor = try request.query("cursor").map { text throws -> BalanceCursor in
                    guard let cursor = BalanceCursor(text) else {
                        throw APIError(.invalidField, detail: "cursor must be the nextCursor of a previous page.", field: "cursor")
                    }
                    return cursor
                }
                if let org, try await sandbox.org(code: try OrgCode(org, field: "org")) == nil {
                    throw APIError(.notFound, detail: "No org \(org) in your sandbox.")
                }
                let balances = try await sandbox.balances(org: org, item: item, after: cursor.map { ($0.orgCode, $0.itemCode) }, limit: limit)
                return ListView(
                    items: balances.map(BalanceView.init),
                    nextCursor: balances.count == limit ? balances.last.map { BalanceCursor(orgCode: $0.orgCode, itemCode: $0.item.code).text } : nil)
            }
        }
        v1.get("stock-moves") { request, context in
            try await database.sandbox(context) { sandbox in
                let limit = try pageLimit(request)
                let moves = try await sandbox.stockMoves(after: try numericCursor(request), limit: limit)
                return ListView(items: moves.map(MoveView.init), nextCursor: moves.count == limit ? moves.last.map { String($0.id) } : nil)
            }
        }
        v1.post("pricing/quote") { request, context in
            try await database.sandbox(context) { sandbox in
                let body = try context.decodeJSON(as: QuoteRequest.self, request)
                let from = try OrgCode(body.from, field: "from")
                let to = try OrgCode(body.to, field: "to")
                let moment = try body.at.map { try Form.time($0, "at") } ?? Date()
                let lines = body.lines.map { QuoteLine(itemCode: $0.item, quantity: $0.quantity, unitCostFen: $0.unitCostFen) }
                return QuoteView(try await sandbox.quote(from: from, to: to, lines: lines, at: moment), from: from, to: to)
            }
        }
        v1.post("purchase-receipts") { request, context in
            try await post(request, context, may: .postDocuments) { sandbox in
                let body = try context.decodeJSON(as: NewPurchaseReceipt.self, request)
                let lines = body.lines.map { PostingLine(itemCode: $0.item, quantity: $0.quantity, unitFen: $0.unitCostFen) }
                return (201, try encode(DocumentView(try await sandbox.postPurchaseReceipt(supplier: body.supplier, lines: lines))))
            }
        }
        v1.post("stock-counts") { request, context in
            try await post(request, context, may: .postDocuments) { sandbox in
                let body = try context.decodeJSON(as: NewStockCount.self, request)
                let lines = body.lines.map { CountLine(itemCode: $0.item, counted: $0.counted, unitCostFen: $0.unitCostFen) }
                return (201, try encode(CountView(try await sandbox.postStockCount(reason: body.reason, lines: lines))))
            }
        }
        v1.post("transfers") { request, context in
            try await post(request, context, may: .postDocuments) { sandbox in
                let body = try context.decodeJSON(as: NewTransfer.self, request)
                let to = try OrgCode(body.to, field: "to")
                let lines = body.lines.map { PostingLine(itemCode: $0.item, quantity: $0.quantity, unitFen: 0) }
                return (201, try encode(TransferView(try await sandbox.createTransfer(to: to, lines: lines))))
            }
        }
        v1.get("transfers/:id") { request, context in
            try await database.sandbox(context) { sandbox -> TransferView in
                let id = try pathID(context)
                guard let transfer = try await sandbox.transfer(id: id) else { throw APIError(.notFound, detail: "No transfer \(id) in your sandbox.") }
                return try TransferView(transfer)
            }
        }
        v1.post("transfers/:id/dispatch") { request, context in
            try await post(request, context, may: .postDocuments) { sandbox in
                let id = try pathID(context)
                // The body is optional: a dispatch without a carrier's private values needs none.
                let body = context.hasBody ? try context.decodeJSON(as: TransferDispatch.self, request) : TransferDispatch(carrier: nil)
                return (200, try encode(TransferView(try await sandbox.dispatchTransfer(id: id, privateValues: body.privateValues))))
            }
        }
        v1.post("transfers/:id/cancel") { request, context in
            try await post(request, context, may: .postDocuments) { (200, try encode(TransferView(try await $0.cancelTransfer(id: try pathID(context))))) }
        }
        v1.post("transfers/:id/true-up") { request, context in
            try await post(request, context, may: .trueUpTransfers) { (200, try encode(TransferView(try await $0.trueUpTransfer(id: try pathID(context))))) }
        }
        v1.post("transfers/:id/claim-settlement") { request, context in
            try await post(request, context, may: .settleClaims) { sandbox in
                let id = try pathID(context)
                let body = try context.decodeJSON(as: ClaimSettlement.self, request)
                return (200, try encode(TransferView(try await sandbox.settleTransferClaim(id: id, recoveredFen: body.recoveredFen))))
            }
        }
        v1.post("transfers/:id/receive") { request, context in
            try await post(request, context, may: .postDocuments) { sandbox in
                let id = try pathID(context)
                let body = try context.decodeJSON(as: TransferReceipt.self, request)
                let report = ReceiptReport(freightFen: body.freightFen, insuranceFen: body.insuranceFen, lost: body.lost ?? [:])
                return (200, try encode(TransferView(try await sandbox.receiveTransfer(id: id, report: report))))
            }
        }
        v1.post("sales-issues") { request, context in
            try await post(request, context, may: .postDocuments) { sandbox in
                let body = try context.decodeJSON(as: NewSalesIssue.self, request)
                let lines = body.lines.map { PostingLine(itemCode: $0.item, quantity: $0.quantity, unitFen: $0.unitPriceFen) }
                let document = try await sandbox.postSalesIssue(customer: body.customer, settlementOrg: body.settlementOrg, lines: lines)
                return (201, try encode(DocumentView(document)))
            }
        }
    }

    // MARK: plumbing

    private func post(
        _ request: Request, _ context: AppRequestContext, may action: Action,
        _ body: @Sendable @escaping (Sandbox) async throws -> (Int, String)
    ) async throws -> Response {
        try await database.posting(request, context, may: action, body)
    }
}

extension Database {
    /// A posting: authorized first, then idempotent by `Idempotency-Key` over the method, path
    /// and body bytes (their HMAC under the master key, else their SM3), then validated and run by `body`.
    func posting(
        _ request: Request, _ context: AppRequestContext, may action: Action,
        _ body: @Sendable @escaping (Sandbox) async throws -> (Int, String)
    ) async throws -> Response {
        let key = request.headers[.idempotencyKey]
        let message = Array("\(request.method) \(request.uri.path)\n".utf8) + context.bodyBytes
        // Keyed when the server has a master key (it must, to take private values): a stored
        // plain digest of a body with a contract price would let a reader of the table guess it.
        let hash = Hex.encode(masterKey.map { $0.requestDigest(message) } ?? SM3.hash(message))
        let (status, text, replayed) = try await sandbox(context, may: action) { sandbox in
            try await sandbox.idempotent(key: key, requestHash: hash) { try await body(sandbox) }
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[.idempotencyReplayed] = "true" }
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Where a page of `GET /v1/stock` ended: `ORG/ITEM` (neither code can hold a slash).
struct BalanceCursor: Sendable {
    let orgCode: String
    let itemCode: String

    init(orgCode: String, itemCode: String) { (self.orgCode, self.itemCode) = (orgCode, itemCode) }

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, (try? OrgCode(String(parts[0]))) != nil, Item.isCode(String(parts[1])) else {
            return nil
        }
        (orgCode, itemCode) = (String(parts[0]), String(parts[1]))
    }

    var text: String { "\(orgCode)/\(itemCode)" }
}

func encode<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotencyReplayed = Self("Idempotency-Replayed")!
}
