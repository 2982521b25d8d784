import ArgumentParser
import Foundation
import SMCrypto

/// `orgmatrix ledger …`: what an org does with the ledger on its own machine.
struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "The transfer ledger: sign on an org's own machine, verify a tenant's ledger online, export and verify a bundle offline, seal blocks now.",
        subcommands: [
            Sign.self, Verify.self, Export.self, VerifyBundle.self, Prove.self, VerifyProof.self, Consistency.self, VerifyConsistency.self,
            Seal.self,
        ])

    /// A client-held org's endorsement: exactly what `openssl dgst -sm3 -sign org.pem -sigopt
    /// distid:1234567812345678 FILE` writes, and what `openssl dgst -sm3 -verify pub.pem -sigopt
    /// distid:1234567812345678 -signature SIG FILE` accepts.
    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Sign a file (a transaction's canonical bytes) with an org's private key: the DER SM2 signature (ID 1234567812345678, SM3)."
        )
        @Option(help: "The org's private key, PEM (PKCS#8 or SEC1).") var key: String
        @Argument(help: "The file to sign, exactly as it is (`-` reads standard input).") var file: String
        @Option(help: "Where to write the DER signature (default: standard output).") var out: String?

        func run() throws {
            try reportingUnusableInput {
                let privateKey = try SM2PrivateKey(pemRepresentation: Files.readText(key))
                let signature = try privateKey.signature(for: Files.read(file)).derRepresentation
                if let out {
                    try Files.write(signature, to: out)
                } else {
                    FileHandle.standardOutput.write(Data(signature))
                }
            }
        }
    }
}
