import Foundation
import Logging
import OrgMatrixCore
import PostgresNIO

/// What a seed load did.
public enum SeedOutcome: Sendable, Hashable {
    /// How many of each step were posted.
    public struct Counts: Sendable, Hashable {
        public var items = 0, openingStocks = 0, purchases = 0, transfers = 0, dispatched = 0, received = 0, sales = 0
    }

    /// Every step was posted, in one transaction.
    case loaded(Counts)
    /// The tenant has items already, so nothing was posted: a seed is loaded into a tenant once.
    case tenantHasItems
}

extension Database {
    /// Posts a seed file's steps through the sandboxed Store calls, each as the principal its
    /// entry names (`keys`: principal name → key, `SeedFile.keys(from:keysFile:)`), so the
    /// database's rules apply to seeds as to the API.
    ///
    /// All or nothing: the whole load is one transaction in which the principals act in turn, so
    /// a refusal anywhere (an oversell, an org outside the sender's lanes, a role that may not
    /// post) rolls every step back and throws a `SeedProblem` naming the entry's file, line and
    /// field. Checks the database defers to commit are run at the end of each step, so they too
    /// name their step. A tenant that has items already gets nothing (`.tenantHasItems`).
    public func loadSeed(_ seed: SeedFile, keys: [String: APIKey], logger: Logger) async throws -> SeedOutcome {
        guard let first = seed.steps.first else { return .loaded(SeedOutcome.Counts()) }
        do {
            return try await withPrincipals(requestID: "seed", logger: logger) { principals in
                let sandbox = try await Self.sandbox(for: first, keys: keys, principals)
                guard try await sandbox.items(after: nil, limit: 1).isEmpty else { return .tenantHasItems }
                var counts = SeedOutcome.Counts()
                var transfers: [Int: Int64] = [:]
                for step in seed.steps {
                    do {
                        let sandbox = try await Self.sandbox(for: step, keys: keys, principals)
                        try await Self.post(step, sandbox, transfers: &transfers, counts: &counts)
                        try await principals.connection.query("SET CONSTRAINTS ALL IMMEDIATE", logger: logger)
                        try await principals.connection.query("SET CONSTRAINTS ALL DEFERRED", logger: logger)
                    } catch let problem as SeedProblem {
                        throw problem
                    } catch {
                        throw Self.problem(error, at: step)
                    }
                }
                return .loaded(counts)
            }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    /// The step's principal's sandbox, checked to be the principal the file names.
    private static func sandbox(for step: SeedFile.Step, keys: [String: APIKey], _ principals: PrincipalSequence) async throws
        -> Sandbox
    {
        func problem(_ reason: String) -> SeedProblem {
            SeedProblem(file: step.place.file, line: step.principalLine, field: "\(step.place.path).by", reason: reason)
        }
        guard let key = keys[step.principal] else { throw problem("\(step.principal) has no key") }
        let sandbox: Sandbox
        do {
            sandbox = try await principals.sandbox(key: key)
        } catch let error as StoreError {
            throw problem("the key of \(step.principal): \(error.detail)")
        }
        guard sandbox.principal.name == step.principal else {
            throw problem("the key given for \(step.principal) is \(sandbox.principal.name)'s")
        }
        return sandbox
    }

    /// Posts one step and counts it; a created transfer's id is kept for its later steps.
    private static func post(
        _ step: SeedFile.Step, _ sandbox: Sandbox, transfers: inout [Int: Int64], counts: inout SeedOutcome.Counts
    ) async throws {
        switch step.action {
        case .createItem(let item):
            _ = try await sandbox.createItem(item)
            counts.items += 1
        case .openingStock(let reason, let lines):
            let counted = try await sandbox.postStockCount(reason: reason, lines: lines)
            // Opening stock is what the org held before anything else: a count that found a book
            // would not be valued at the file's unit costs.
            for (index, line) in counted.lines.enumerated() where line.bookScaled != 0 {
                throw step.place.problem(
                    "\(counted.orgCode) held \(ScaledQuantity.format(line.bookScaled, scale: line.item.quantityScale)) \(line.item.baseUnit) "
                        + "of \(line.item.code) before its opening stock: give it a date before the org's other postings of the item",
                    field: "lines[\(index)].quantity")
            }
            counts.openingStocks += 1
        case .purchase(let supplier, let lines):
            _ = try await sandbox.postPurchaseReceipt(supplier: supplier, lines: lines)
            counts.purchases += 1
        case .createTransfer(let transfer, let to, let lines):
            transfers[transfer] = try await sandbox.createTransfer(to: to, lines: lines).id
            counts.transfers += 1
        case .dispatchTransfer(let transfer, let privateValues):
            _ = try await sandbox.dispatchTransfer(id: transfers[transfer]!, privateValues: privateValues)
            counts.dispatched += 1
        case .receiveTransfer(let transfer, let report):
            _ = try await sandbox.receiveTransfer(id: transfers[transfer]!, report: report)
            counts.received += 1
        case .sale(let customer, let settlementOrg, let lines):
            _ = try await sandbox.postSalesIssue(customer: customer, settlementOrg: settlementOrg, lines: lines)
            counts.sales += 1
        }
    }

    /// A refusal of the Store or the database, at the step and (when it names one) the field.
    private static func problem(_ error: any Error, at step: SeedFile.Step) -> SeedProblem {
        if let error = error as? StoreError {
            // A count names its quantity `counted`; opening stock calls it `quantity`.
            let field = error.field.map {
                if case .openingStock = step.action { $0.replacingOccurrences(of: ".counted", with: ".quantity") } else { $0 }
            }
            return step.place.problem(error.detail, field: field)
        }
        let detail = (error as? PSQLError)?.serverInfo?[.message] ?? (refusal(of: error)?.detail ?? "\(error)")
        return step.place.problem("the database refused it: \(detail)\(sqlState(error).map { " (SQLSTATE \($0))" } ?? "")")
    }
}
