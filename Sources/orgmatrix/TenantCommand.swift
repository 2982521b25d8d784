import ArgumentParser
import Foundation
import Logging
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO

/// `orgmatrix tenant apply FILE`: create or update a tenant from its YAML file, idempotently.
struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Declarative tenants (Tenants/*.yaml).", subcommands: [Apply.self])

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Create or update a tenant from its file: orgs, relations, principals, pricing, ledger settings and custodial keys (as the owner role)."
        )

        @Argument(help: "The tenant file, e.g. Tenants/dairy.yaml.") var file: String
        @Flag(help: "Print the plan and change nothing.") var dryRun = false
        @Flag(
            help: "Create the tenant if it does not exist yet; if it does, only show how it differs from the file (what ops/run does, so that a restart never undoes the operators' changes)."
        )
        var ifNew = false
        @Option(help: "Add the keys of newly created principals to this JSON file, {\"principal name\": \"key\"} (mode 0600).")
        var keysOut: String?
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
            let logger = Logger(label: "orgmatrix.tenant")
            let definition: TenantDefinition
            do {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                definition = try TenantDefinition.validate(try TenantFile.decode(yaml: text))
            } catch let error as MatrixInvalid {
                FileHandle.standardError.write(Data("orgmatrix: \(file) is invalid:\n\(error)\n".utf8))
                throw ExitCode(2)
            } catch {
                FileHandle.standardError.write(Data("orgmatrix: cannot read \(file): \(error.localizedDescription)\n".utf8))
                throw ExitCode(2)
            }
            let url = try Settings.databaseURL(
                flag: database.databaseURL, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
            let outcome: TenantAdmin.Outcome
            do {
                outcome = try await Settings.withClient(url, logger: logger) { client in
                    let plan = try await TenantAdmin(client: client, logger: logger).apply(definition, dryRun: true)
                    if dryRun { return plan }
                    if ifNew, !plan.changes.contains(where: \.createsTenant) {
                        return TenantAdmin.Outcome(tenantID: plan.tenantID, changes: plan.changes, keys: [:], applied: false)
                    }
                    // A new principal's key exists only in this run's output: refuse to lose it.
                    if keysOut == nil, plan.changes.contains(where: \.createsPrincipal) {
                        throw UnusableInput("this apply creates principals; pass --keys-out FILE to receive their keys (shown once)")
                    }
                    // The master key is read only when custodial keys are to be generated and sealed.
                    let masterKey = plan.changes.contains(where: \.generatesKey) ? try Settings.masterKey() : nil
                    return try await TenantAdmin(client: client, logger: logger, masterKey: masterKey).apply(definition, dryRun: false)
                }
            } catch let error as MatrixInvalid {
                FileHandle.standardError.write(Data("orgmatrix: \(file) cannot be applied:\n\(error)\n".utf8))
                throw ExitCode(2)
            } catch let error as UnusableInput {
                FileHandle.standardError.write(Data("orgmatrix: \(error)\n".utf8))
                throw ExitCode(2)
            } catch let error as KeyError {
                FileHandle.standardError.write(Data("orgmatrix: \(error.detail) (\(error.code))\n".utf8))
                throw ExitCode(2)
            }
            if ifNew, !outcome.applied {
                print("tenant \(definition.code) exists; not re-applied (--if-new).")
                if !outcome.changes.isEmpty {
                    print("`orgmatrix tenant apply \(file)` would make \(outcome.changes.count) change(s) to it:")
                    for change in outcome.changes { print("  \(change)") }
                }
                return
            }
            if outcome.changes.isEmpty {
                print("tenant \(definition.code) is up to date (\(definition.orgs.count) orgs, \(definition.relations.count) relations, "
                    + "\(definition.principals.count) principals); nothing changed")
                return
            }
            print(dryRun ? "plan for tenant \(definition.code) (dry run, nothing changed):" : "applied to tenant \(definition.code):")
            for change in outcome.changes { print("  \(change)") }
            if let keysOut, !outcome.keys.isEmpty, !dryRun {
                // Keys already in the file (from earlier applies) stay; a recreated principal's key replaces its old one.
                var keys = (try? JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: keysOut)))) ?? [:]
                keys.merge(outcome.keys) { _, new in new }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                try Files.write(Array(try encoder.encode(keys)), to: keysOut, mode: 0o600)
                print("keys of \(outcome.keys.count) new principals written to \(keysOut) (shown once; only their hashes are stored)")
            }
        }
    }
}

extension TenantChange {
    var createsPrincipal: Bool {
        if case .createPrincipal = self { true } else { false }
    }

    var createsTenant: Bool {
        if case .createTenant = self { true } else { false }
    }
}
