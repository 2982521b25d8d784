import ArgumentParser
import Foundation
import Logging
import OrgMatrixCore
import OrgMatrixStore
import SMCrypto

/// `orgmatrix keys …`: a tenant's ledger keys, as the owner role (like `tenant apply`).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Org and orderer signing keys of a tenant (as the owner role).",
        subcommands: [Register.self, List.self, Revoke.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client-held org's public key (PEM) as its next key version; prints the version.")
        @Option(help: "The tenant's code.") var tenant: String
        @Option(help: "The org's code (one the tenant file's ledger.client_held lists).") var org: String
        @Option(help: "The org's SM2 public key, PEM (`openssl pkey -pubout` or `orgmatrix crypto sm2 pub`).") var publicKey:
            String
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            _ = try tenantCode(tenant)
            guard try keyOwner(org).org != nil else {
                throw ValidationError("--org: the orderer's key is custodial; it is never registered")
            }
        }

        func run() async throws {
            let (code, owner) = (try tenantCode(tenant), try keyOwner(org))
            let pem: String
            do {
                pem = try Files.readText(publicKey)
            } catch {
                FileHandle.standardError.write(Data("orgmatrix: public_key: \(error)\n".utf8))
                throw ExitCode(2)
            }
            let key = try await withKeyAdmin(database) { try await $0.register(tenant: code, org: owner.org!, publicKeyPEM: pem) }
            print("registered \(owner)'s client-held key version \(key.version), valid from \(key.validFrom.formatted(.iso8601))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every key version of a tenant with its custody, validity and public key's SM3 fingerprint.")
        @Option(help: "The tenant's code.") var tenant: String
        @OptionGroup var database: DatabaseOptions

        func validate() throws { _ = try tenantCode(tenant) }

        func run() async throws {
            let code = try tenantCode(tenant)
            let histories = try await withKeyAdmin(database) { try await $0.list(tenant: code) }
            for history in histories {
                for key in history.versions {
                    print(Self.line(key, validTo: history.validTo(version: key.version)))
                }
            }
            if histories.isEmpty { print("tenant \(code) has no keys") }
        }

        /// `OWNER vN custody valid FROM – TO [revoked AT: reason] sm3 FINGERPRINT`, one line per version.
        static func line(_ key: OrgKeyVersion, validTo: Date?) -> String {
            let until = validTo.map { $0.formatted(.iso8601) } ?? "now"
            let revoked = key.revocation.map { " revoked \($0.revokedAt.formatted(.iso8601)): \($0.reason)" } ?? ""
            let fingerprint = Hex.encode(SM3.hash(key.publicKey.derRepresentation)).prefix(16)
            return
                "\(key.owner.name) v\(key.version) \(key.custody.rawValue) valid \(key.validFrom.formatted(.iso8601)) – \(until)"
                + "\(revoked) sm3 \(fingerprint)"
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke one key version now, with a reason.")
        @Option(help: "The tenant's code.") var tenant: String
        @Option(help: "The org's code, or `orderer`.") var org: String
        @Option(help: "The key version.") var version: Int32
        @Option(help: "Why (1–500 characters); kept with the revocation.") var reason: String
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            _ = (try tenantCode(tenant), try keyOwner(org))
            if let problem = KeyRevocation.reasonProblem(reason) { throw ValidationError("--reason \(problem.reason)") }
        }

        func run() async throws {
            let (code, owner) = (try tenantCode(tenant), try keyOwner(org))
            let revocation = try await withKeyAdmin(database) {
                try await $0.revoke(tenant: code, owner: owner, version: version, reason: reason)
            }
            print("revoked \(owner)'s key version \(version) at \(revocation.revokedAt.formatted(.iso8601))")
        }
    }
}

/// The tenant `--tenant` names, or a usage error.
private func tenantCode(_ text: String) throws -> TenantCode {
    do { return try TenantCode(text) } catch { throw ValidationError("--tenant \(error.reason)") }
}

/// The key owner `--org` names (an org code, or `orderer`), or a usage error.
private func keyOwner(_ text: String) throws -> KeyOwner {
    do { return try KeyOwner(name: text, field: "org") } catch { throw ValidationError("--org \(error.reason)") }
}

/// Runs `body` with a `KeyAdmin` on the owner's database; a refusal prints its reason (naming
/// the field) on standard error and exits 2, having changed nothing.
private func withKeyAdmin<T: Sendable>(_ database: DatabaseOptions, _ body: @Sendable (KeyAdmin) async throws -> T) async throws
    -> T
{
    try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
    let logger = Logger(label: "orgmatrix.keys")
    let url = try Settings.databaseURL(
        flag: database.databaseURL, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
    do {
        return try await Settings.withClient(url, logger: logger) { client in
            // With the master key at hand, HQ endorses the key event at once.
            let environment = ProcessInfo.processInfo.environment
            let masterKey = (environment[Settings.masterKeyEnvironmentKey] ?? "").isEmpty ? nil : try Settings.masterKey()
            return try await body(KeyAdmin(client: client, logger: logger, masterKey: masterKey))
        }
    } catch let error as KeyError {
        FileHandle.standardError.write(
            Data("orgmatrix: \(error.field.map { "\($0): " } ?? "")\(error.detail) (\(error.code))\n".utf8))
        throw ExitCode(2)
    }
}
