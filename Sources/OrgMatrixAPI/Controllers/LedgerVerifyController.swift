import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore

/// `GET /v1/ledger/verify`: the tenant's whole ledger verified online (docs/LEDGER.md,
/// "Verification"), its stored columns and the books included, for hq_admin and auditor keys.
/// Each request verifies from the start in one snapshot; the failures come sorted, a page at a
/// time (`limit`, and `cursor` = how many the previous pages held).
struct LedgerVerifyController {
    let database: Database

    func register(on router: Router<AppRequestContext>) {
        router.group("v1/ledger").add(middleware: BearerAuthMiddleware()).get("verify") { request, context in
            guard let key = context.apiKey else { throw APIError(.unauthenticated, detail: "No API key.") }
            // 401, then 403, then the query (422): each before the verification's work.
            try await database.sandbox(context, may: .verifyLedger) { _ in }
            let limit = try pageLimit(request)
            let offset =
                try request.query("cursor").map { text throws -> Int in
                    guard let offset = Int(text), offset >= 0, offset <= Int(Int32.max) else {
                        throw APIError(
                            .invalidField, detail: "cursor must be the nextCursor of a previous page.", field: "cursor")
                    }
                    return offset
                } ?? 0
            let verification = try await database.verifyLedger(key: key, requestID: context.id, logger: context.logger)
            return LedgerVerificationView(verification, offset: offset, limit: limit)
        }
    }
}

/// A verification as JSON: the API's answer and `orgmatrix ledger verify --json`. `failures` is
/// the page asked for (all of them without a limit); `failureCount` counts every one, and
/// `truncated` says whether failures follow this page (`nextCursor` asks for them).
public struct LedgerVerificationView: Encodable, ResponseEncodable, Sendable {
    public struct Counts: Encodable, Sendable {
        let keys: Int
        let transactions: Int
        let committed: Int
        let pending: Int
        let disputed: Int
        let endorsementsChecked: Int
        let blocks: Int
        let sealedTransactions: Int
        let transfersReconciled: Int
    }

    public struct Failure: Encodable, Sendable {
        let kind: String
        let block: Int64?
        let transaction: String?
        let field: String
        let expected: String
        let found: String

        private enum CodingKeys: String, CodingKey { case kind, block, transaction, field, expected, found }

        public init(_ failure: LedgerVerificationFailure) {
            (kind, block, transaction) = (failure.kind.rawValue, failure.blockNumber, failure.transactionHash?.hex)
            (field, expected, found) = (failure.field, failure.expected, failure.found)
        }

        /// `block` and `transaction` are always present, null when the failure is not about one.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(kind, forKey: .kind)
            try container.encode(block, forKey: .block)
            try container.encode(transaction, forKey: .transaction)
            try container.encode(field, forKey: .field)
            try container.encode(expected, forKey: .expected)
            try container.encode(found, forKey: .found)
        }
    }

    let tenant: String
    let clean: Bool
    let counts: Counts
    let failureCount: Int
    let failures: [Failure]
    let truncated: Bool
    let nextCursor: String?

    private enum CodingKeys: String, CodingKey { case tenant, clean, counts, failureCount, failures, truncated, nextCursor }

    /// The failures from `offset` on, at most `limit` of them (all without one).
    public init(_ verification: LedgerVerification, offset: Int = 0, limit: Int? = nil) {
        let report = verification.report
        let counts = report.counts
        tenant = verification.tenant.rawValue
        clean = report.isClean
        self.counts = Counts(
            keys: verification.keys, transactions: counts.transactions, committed: counts.committed, pending: counts.pending,
            disputed: counts.disputed, endorsementsChecked: counts.endorsementsChecked, blocks: counts.blocks,
            sealedTransactions: counts.sealedTransactions, transfersReconciled: verification.transfersReconciled)
        failureCount = report.failures.count
        let start = min(offset, report.failures.count)
        let end = limit.map { min(start + $0, report.failures.count) } ?? report.failures.count
        failures = report.failures[start..<end].map(Failure.init)
        truncated = end < report.failures.count
        nextCursor = truncated ? String(end) : nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(clean, forKey: .clean)
        try container.encode(counts, forKey: .counts)
        try container.encode(failureCount, forKey: .failureCount)
        try container.encode(failures, forKey: .failures)
        try container.encode(truncated, forKey: .truncated)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}
