import ArgumentParser
import Foundation
import Logging
import Metrics
import OrgMatrixCore
import OrgMatrixStore

extension LedgerCommand {
    /// One pass of `serve`'s sealer, for an operator: after maintenance, on a node started with
    /// `--no-sealer`, or to seal one tenant now. It elects itself per tenant exactly as `serve`
    /// does, so it is safe beside running servers.
    struct Seal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every committed ledger transaction no block holds yet into blocks, now, and exit.",
            discussion:
                "Needs \(Settings.masterKeyEnvironmentKey) (the orderer's custodial key signs each header). Exit status: 0 sealed, "
                + "1 a tenant's chain could not be extended, 2 usage or configuration.")

        @Option(help: "Only this tenant (its code); default every tenant.") var tenant: String?
        @Option(help: "Transactions per block at most.") var blockTransactions: Int = 500
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard (1...10_000).contains(blockTransactions) else { throw ValidationError("--block-transactions must be 1–10000") }
            if let tenant { _ = try tenantCode(tenant) }
        }

        func run() async throws {
            try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
            let logger = Logger(label: "orgmatrix.ledger")
            let url = try Settings.databaseURL(flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
            let masterKey: MasterKey
            do { masterKey = try Settings.masterKey() } catch { throw configurationFailure(error.detail) }
            let only = try tenant.map(tenantCode)
            let pass = try await Settings.withClient(url, logger: logger) { client in
                // Everything committed is due: this pass does not wait for a block to fill.
                try await Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
                    .sealDueBlocks(
                        rule: SealingRule(maxTransactions: blockTransactions, maxAge: .zero), masterKey: masterKey, logger: logger,
                        onlyTenant: only)
            }
            var sealed: [TenantCode: (blocks: Int, transactions: Int64)] = [:]
            for block in pass.blocks { sealed[block.tenant, default: (0, 0)].blocks += 1; sealed[block.tenant]!.transactions += block.header.transactionCount }
            for (code, count) in sealed.sorted(by: { $0.key < $1.key }) {
                print("\(code): sealed \(count.blocks) block\(count.blocks == 1 ? "" : "s") of \(count.transactions) transactions")
            }
            if sealed.isEmpty && pass.failures.isEmpty { print("nothing to seal") }
            for (code, reason) in pass.failures.sorted(by: { $0.key < $1.key }) {
                FileHandle.standardError.write(Data("orgmatrix: \(code): its chain cannot be extended: \(reason)\n".utf8))
            }
            if !pass.failures.isEmpty { throw ExitCode(1) }
        }

        private func tenantCode(_ text: String) throws -> TenantCode {
            do { return try TenantCode(text) } catch { throw ValidationError("--tenant \(error.reason)") }
        }

        private func configurationFailure(_ reason: String) -> ExitCode {
            FileHandle.standardError.write(Data("orgmatrix: \(reason)\n".utf8))
            return ExitCode(2)
        }
    }
}
