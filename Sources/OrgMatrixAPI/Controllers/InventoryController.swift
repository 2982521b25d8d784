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

    func register(on router: Router<AppRequestContext>) {
        let v1 = router.group("v1").add(middleware: BearerAuthMiddleware())
        v1.get("items") { request, context in
            try await database.sandbox(context) { ListView(items: try await $0.items().map(ItemBody.init), nextCursor: nil) }
        }
        v1.post("items") { request, context in
            let item = try await request.decodeJSON(as: ItemBody.self, context: context).item()
            return try await post(request, context) { sandbox in (201, try encode(ItemBody(try await sandbox.createItem(item)))) }
        }
        v1.get("stock") { request, context in
            let org = request.uri.queryParameters["org"].map(String.init)
            let item = request.uri.queryParameters["item"].map(String.init)
            return try await database.sandbox(context) { sandbox in
                if let org, try await sandbox.org(code: try OrgCode(org, field: "org")) == nil {
                    throw APIError(.notFound, detail: "No org \(org) in your sandbox.")
                }
                return ListView(items: try await sandbox.balances(org: org, item: item).map(BalanceView.init), nextCursor: nil)
            }
        }
        v1.get("stock-moves") { request, context in
            let limit = try pageLimit(request)
            let cursor = try request.uri.queryParameters["cursor"].map { text -> Int64 in
                guard let value = Int64(String(text)), value >= 0 else {
                    throw APIError(.invalidField, detail: "cursor must be the nextCursor of a previous page.", field: "cursor")
                }
                return value
            }
            return try await database.sandbox(context) { sandbox in
                let moves = try await sandbox.stockMoves(after: cursor, limit: limit)
                return ListView(items: moves.map(MoveView.init), nextCursor: moves.count == limit ? moves.last.map { String($0.id) } : nil)
            }
        }
        v1.post("pricing/quote") { request, context in
            let body = try await request.decodeJSON(as: QuoteRequest.self, context: context)
            let from = try OrgCode(body.from, field: "from")
            let to = try OrgCode(body.to, field: "to")
            let moment = try body.at.map { try parseTime($0, field: "at") } ?? Date()
            let lines = body.lines.map { QuoteLine(itemCode: $0.item, quantity: $0.quantity, unitCostFen: $0.unitCostFen) }
            return try await database.sandbox(context) { QuoteView(try await $0.quote(from: from, to: to, lines: lines, at: moment), from: from, to: to) }
        }
        v1.post("purchase-receipts") { request, context in
            let (body, bytes) = try await decodeKeepingBytes(NewPurchaseReceipt.self, request, context)
            return try await post(request, context, bytes: bytes) { sandbox in
                let lines = body.lines.map { PostingLine(itemCode: $0.item, quantity: $0.quantity, unitFen: $0.unitCostFen) }
                return (201, try encode(DocumentView(try await sandbox.postPurchaseReceipt(supplier: body.supplier, lines: lines))))
            }
        }
        v1.post("stock-counts") { request, context in
            let (body, bytes) = try await decodeKeepingBytes(NewStockCount.self, request, context)
            return try await post(request, context, bytes: bytes) { sandbox in
                let lines = body.lines.map { CountLine(itemCode: $0.item, counted: $0.counted, unitCostFen: $0.unitCostFen) }
                return (201, try encode(CountView(try await sandbox.postStockCount(reason: body.reason, lines: lines))))
            }
        }
        v1.post("transfers") { request, context in
            let (body, bytes) = try await decodeKeepingBytes(NewTransfer.self, request, context)
            let to = try OrgCode(body.to, field: "to")
            return try await post(request, context, bytes: bytes) { sandbox in
                let lines = body.lines.map { PostingLine(itemCode: $0.item, quantity: $0.quantity, unitFen: 0) }
                return (201, try encode(TransferView(try await sandbox.createTransfer(to: to, lines: lines))))
            }
        }
        v1.get("transfers/:id") { request, context in
            let id = try pathID(context)
            return try await database.sandbox(context) { sandbox -> TransferView in
                guard let transfer = try await sandbox.transfer(id: id) else { throw APIError(.notFound, detail: "No transfer \(id) in your sandbox.") }
                return TransferView(transfer)
            }
        }
        v1.post("transfers/:id/dispatch") { request, context in
            let id = try pathID(context)
            return try await post(request, context) { (200, try encode(TransferView(try await $0.dispatchTransfer(id: id)))) }
        }
        v1.post("transfers/:id/cancel") { request, context in
            let id = try pathID(context)
            return try await post(request, context) { (200, try encode(TransferView(try await $0.cancelTransfer(id: id)))) }
        }
        v1.post("transfers/:id/true-up") { request, context in
            let id = try pathID(context)
            return try await post(request, context) { (200, try encode(TransferView(try await $0.trueUpTransfer(id: id)))) }
        }
        v1.post("transfers/:id/receive") { request, context in
            let id = try pathID(context)
            let (body, bytes) = try await decodeKeepingBytes(TransferReceipt.self, request, context)
            let report = ReceiptReport(freightFen: body.freightFen, insuranceFen: body.insuranceFen, lost: body.lost ?? [:])
            return try await post(request, context, bytes: bytes) { (200, try encode(TransferView(try await $0.receiveTransfer(id: id, report: report)))) }
        }
        v1.post("sales-issues") { request, context in
            let (body, bytes) = try await decodeKeepingBytes(NewSalesIssue.self, request, context)
            return try await post(request, context, bytes: bytes) { sandbox in
                let lines = body.lines.map { PostingLine(itemCode: $0.item, quantity: $0.quantity, unitFen: $0.unitPriceFen) }
                let document = try await sandbox.postSalesIssue(customer: body.customer, settlementOrg: body.settlementOrg, lines: lines)
                return (201, try encode(DocumentView(document)))
            }
        }
    }

    // MARK: plumbing

    /// A posting: idempotent by `Idempotency-Key` over the method, path and body bytes.
    private func post(
        _ request: Request, _ context: AppRequestContext, bytes: [UInt8] = [],
        _ body: @Sendable @escaping (Sandbox) async throws -> (Int, String)
    ) async throws -> Response {
        let key = request.headers[.idempotencyKey]
        let hash = Hex.encode(SM3.hash(Array("\(request.method) \(request.uri.path)\n".utf8) + bytes))
        let (status, text, replayed) = try await database.sandbox(context) { sandbox in
            try await sandbox.idempotent(key: key, requestHash: hash) { try await body(sandbox) }
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[.idempotencyReplayed] = "true" }
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    private func decodeKeepingBytes<T: Decodable>(
        _ type: T.Type, _ request: Request, _ context: AppRequestContext
    ) async throws -> (T, [UInt8]) {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let value = try await request.decodeJSON(as: type, context: context)
        return (value, Array(buffer.readableBytesView))
    }
}

private func encode<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotencyReplayed = Self("Idempotency-Replayed")!
}
