import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore
import SMCrypto

/// The transfer ledger (docs/LEDGER.md): what an org must endorse, a transaction's canonical
/// bytes and endorsements, client-held signatures, custodial approvals and disputes.
struct LedgerController {
    let database: Database
    let bodyTimeout: Duration

    func register(on router: Router<AppRequestContext>) {
        let v1 = router.group("v1/ledger").add(middleware: BearerAuthMiddleware()).add(middleware: CollectBodyMiddleware(timeout: bodyTimeout))
        v1.get("pending") { request, context in
            try await database.sandbox(context) { sandbox in
                let limit = try pageLimit(request)
                let cursor = try request.query("cursor").map { text throws -> PendingCursor in
                    guard let cursor = PendingCursor(text) else {
                        throw APIError(.invalidField, detail: "cursor must be the nextCursor of a previous page.", field: "cursor")
                    }
                    return cursor
                }
                let records = try await sandbox.pendingLedgerTransactions(after: cursor.map { ($0.at, $0.hash) }, limit: limit)
                return ListView(
                    items: records.map(LedgerTransactionView.init),
                    nextCursor: records.count == limit ? records.last.map { PendingCursor(at: $0.transaction.at, hash: $0.hash).text } : nil)
            }
        }
        v1.get("transactions/:hash") { request, context in
            try await database.sandbox(context) { sandbox -> LedgerTransactionView in
                let hash = try pathHash(context)
                guard let record = try await sandbox.ledgerTransaction(hash: hash) else {
                    throw APIError(.notFound, detail: "No ledger transaction \(hash.hex) in your sandbox.")
                }
                return LedgerTransactionView(record)
            }
        }
        v1.get("transactions/:hash/private") { request, context in
            try await database.sandbox(context, may: .readPrivateValues) { sandbox in
                LedgerPrivateValuesView(try await sandbox.privateValues(of: try pathHash(context)))
            }
        }
        v1.get("transactions/:hash/proof") { request, context in
            try await database.sandbox(context) { sandbox in
                let hash = try pathHash(context)
                let size = try treeSize(request, "tree_size")
                return LedgerInclusionProofView(try await sandbox.inclusionProof(hash: hash, treeSize: size))
            }
        }
        v1.get("consistency") { request, context in
            try await database.sandbox(context) { sandbox in
                guard let from = try treeSize(request, "from") else {
                    throw APIError(.invalidField, detail: "from is required: the smaller tree's size (a block's logSize).", field: "from")
                }
                return LedgerConsistencyProofView(try await sandbox.consistencyProof(from: from, to: try treeSize(request, "to")))
            }
        }
        v1.get("blocks") { request, context in
            try await database.sandbox(context) { sandbox in
                let limit = try pageLimit(request)
                let after = try numberCursor(request)
                let records = try await sandbox.ledgerBlocks(after: after, limit: limit)
                return ListView(
                    items: records.map(LedgerBlockView.init),
                    nextCursor: records.count == limit ? records.last.map { String($0.header.number) } : nil)
            }
        }
        v1.get("blocks/:number") { request, context in
            try await database.sandbox(context) { sandbox -> LedgerBlockView in
                guard let text = context.parameters.get("number"), let number = Int64(text), number >= 0,
                    let record = try await sandbox.ledgerBlock(number: number)
                else {
                    throw APIError(.notFound, detail: "No such block (blocks are numbered 0, 1, 2, …).")
                }
                return LedgerBlockView(record)
            }
        }
        v1.get("checkpoints") { request, context in
            try await database.sandbox(context) { sandbox in
                let limit = try pageLimit(request)
                let after = try numberCursor(request)
                let records = try await sandbox.checkpoints(after: after, limit: limit)
                return ListView(
                    items: records.map(LedgerCheckpointView.init),
                    nextCursor: records.count == limit ? records.last.map { String($0.checkpoint.number) } : nil)
            }
        }
        v1.get("checkpoints/:number") { request, context in
            try await database.sandbox(context) { sandbox -> LedgerCheckpointView in
                guard let record = try await sandbox.checkpoint(number: try pathCheckpoint(context)) else {
                    throw APIError(.notFound, detail: "No such checkpoint (checkpoints are numbered 0, 1, 2, …).")
                }
                return LedgerCheckpointView(record)
            }
        }
        v1.post("checkpoints") { request, context in
            try await database.posting(request, context, may: .cutCheckpoints) { sandbox in
                (201, try encode(LedgerCheckpointView(try await sandbox.cutCheckpoint())))
            }
        }
        v1.post("checkpoints/:number/approve") { request, context in
            try await database.posting(request, context, may: .endorse) { sandbox in
                (200, try encode(LedgerCheckpointView(try await sandbox.approveCheckpoint(number: try pathCheckpoint(context)))))
            }
        }
        v1.post("checkpoints/:number/signatures") { request, context in
            try await database.posting(request, context, may: .endorse) { sandbox in
                let number = try pathCheckpoint(context)
                let body = try context.decodeJSON(as: NewEndorsement.self, request)
                let org = try OrgCode(body.org, field: "org")
                guard let der = Data(base64Encoded: body.signature), !der.isEmpty else {
                    throw APIError(.invalidField, detail: "signature must be the DER signature in base64.", field: "signature")
                }
                let record = try await sandbox.signCheckpoint(number: number, org: org, keyVersion: body.keyVersion, signatureDER: Array(der))
                return (200, try encode(LedgerCheckpointView(record)))
            }
        }
        v1.post("transactions/:hash/endorsements") { request, context in
            try await database.posting(request, context, may: .endorse) { sandbox in
                let hash = try pathHash(context)
                let body = try context.decodeJSON(as: NewEndorsement.self, request)
                let org = try OrgCode(body.org, field: "org")
                guard let der = Data(base64Encoded: body.signature), !der.isEmpty else {
                    throw APIError(.invalidField, detail: "signature must be the DER signature in base64.", field: "signature")
                }
                let record = try await sandbox.endorseLedgerTransaction(hash: hash, org: org, keyVersion: body.keyVersion, signatureDER: Array(der))
                return (200, try encode(LedgerTransactionView(record)))
            }
        }
        v1.post("transactions/:hash/approve") { request, context in
            try await database.posting(request, context, may: .endorse) { sandbox in
                (200, try encode(LedgerTransactionView(try await sandbox.approveLedgerTransaction(hash: try pathHash(context)))))
            }
        }
        v1.post("transactions/:hash/dispute") { request, context in
            try await database.posting(request, context, may: .endorse) { sandbox in
                let hash = try pathHash(context)
                let body = try context.decodeJSON(as: NewDispute.self, request)
                return (200, try encode(LedgerTransactionView(try await sandbox.disputeLedgerTransaction(hash: hash, reason: body.reason))))
            }
        }
    }
}

/// A tree size from the query (`name`): a positive integer, else 422 naming it; nil when absent.
private func treeSize(_ request: Request, _ name: String) throws -> Int64? {
    try request.query(name).map { text throws -> Int64 in
        guard let size = Int64(text), size >= 1 else {
            throw APIError(.invalidField, detail: "\(name) must be a tree size: a positive integer, a block's logSize.", field: name)
        }
        return size
    }
}

/// The `cursor` of a page of blocks or checkpoints: the number the previous page ended at.
private func numberCursor(_ request: Request) throws -> Int64? {
    try request.query("cursor").map { text throws -> Int64 in
        guard let number = Int64(text), number >= 0 else {
            throw APIError(.invalidField, detail: "cursor must be the nextCursor of a previous page.", field: "cursor")
        }
        return number
    }
}

/// The `{number}` of a checkpoint's path: a non-negative integer, else 404.
private func pathCheckpoint(_ context: AppRequestContext) throws -> Int64 {
    guard let text = context.parameters.get("number"), let number = Int64(text), number >= 0 else {
        throw APIError(.notFound, detail: "No such checkpoint (checkpoints are numbered 0, 1, 2, …).")
    }
    return number
}

/// The `{hash}` of a path: 64 lowercase hex digits, else 404 (a hash that cannot exist is not there).
private func pathHash(_ context: AppRequestContext) throws -> LedgerHash {
    guard let text = context.parameters.get("hash"), let hash = try? LedgerHash(hex: text) else {
        throw APIError(.notFound, detail: "No such ledger transaction (a hash is 64 lowercase hex digits).")
    }
    return hash
}

/// Where a page of pending transactions ended: `<microseconds since 1970>-<hash>`.
struct PendingCursor: Sendable {
    let at: UTCMicros
    let hash: LedgerHash

    init(at: UTCMicros, hash: LedgerHash) { (self.at, self.hash) = (at, hash) }

    init?(_ text: String) {
        guard let match = text.wholeMatch(of: /([0-9]{1,16})-([0-9a-f]{64})/), let micros = Int64(match.1),
            let hash = try? LedgerHash(hex: String(match.2))
        else { return nil }
        (self.at, self.hash) = (UTCMicros(microsecondsSinceEpoch: micros), hash)
    }

    var text: String { "\(at.microsecondsSinceEpoch)-\(hash.hex)" }
}
