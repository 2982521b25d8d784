import ArgumentParser
import Foundation
import SMCrypto

/// `orgmatrix crypto …`: SM2/SM3/SM4 for auditors and operators, with no server or database.
struct Crypto: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SM2 signatures, SM3 hashes and SM4 sealing on files (no server or database needed).",
        subcommands: [SM3Files.self, SM2Command.self, SM4Command.self])
}

/// Unusable input (missing file, bad key, bad hex): the reason on standard error, exit status 2,
/// so scripts can tell it from a signature that simply does not verify (exit 1).
struct UnusableInput: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Runs `body`, turning unusable input into its reason on stderr and exit status 2.
    func reportingUnusableInput(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch let error as SMCryptoError {
            FileHandle.standardError.write(Data("orgmatrix: \(error.detail) (\(error.code))\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("orgmatrix: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

enum Files {
    static func read(_ path: String) throws -> [UInt8] {
        if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        do {
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw UnusableInput("cannot read \(path): \(reason(error))")
        }
    }

    static func readText(_ path: String) throws -> String { String(decoding: try read(path), as: UTF8.self) }

    /// Writes atomically (a reader never sees half a file). Keys and decrypted secrets get mode
    /// 0600; a key file is never overwritten.
    static func write(_ bytes: [UInt8], to path: String, mode: Int = 0o644, overwrite: Bool = true) throws {
        if !overwrite, FileManager.default.fileExists(atPath: path) {
            throw UnusableInput("\(path) exists; refusing to overwrite a key (move it away first)")
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        guard
            FileManager.default.createFile(
                atPath: temporary.path, contents: Data(bytes), attributes: [.posixPermissions: mode])
        else { throw UnusableInput("cannot write \(path)") }
        // rename(2) replaces an existing file in one step. (Foundation's replaceItemAt on Linux
        // can remove the original and then fail, losing a keys file written only once.)
        guard rename(temporary.path, url.path) == 0 else {
            let failure = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw UnusableInput("cannot write \(path): \(failure)")
        }
    }

    private static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }
}

struct SM3Files: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sm3", abstract: "Print `<hex>  <file>` per file, like sha256sum (`-` reads standard input).")

    @Argument(help: "Files to hash.") var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one file") }
    }

    func run() throws {
        try reportingUnusableInput {
            for path in files {
                print("\(Hex.encode(try Self.hash(path)))  \(path)")
            }
        }
    }

    /// Streams the file in 1 MiB pieces so large exports need no large memory.
    static func hash(_ path: String) throws -> [UInt8] {
        let handle: FileHandle
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let opened = FileHandle(forReadingAtPath: path) else { throw UnusableInput("cannot read \(path)") }
            handle = opened
        }
        defer { if path != "-" { try? handle.close() } }
        var hasher = SM3Hasher()
        while true {
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return hasher.finalize()
    }
}

struct SM2Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sm2", abstract: "SM2 keys and signatures, interoperable with OpenSSL 3.",
        subcommands: [KeyGen.self, Pub.self, Sign.self, Verify.self])

    struct KeyGen: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen", abstract: "Generate a key: PKCS#8 PEM (mode 0600), and optionally its public key PEM.")
        @Option(help: "Where to write the private key (never overwritten).") var out: String
        @Option(help: "Where to write the public key.") var pubOut: String?

        func run() throws {
            try reportingUnusableInput {
                let key = SM2PrivateKey.generate()
                try Files.write(Array(key.pemRepresentation.utf8), to: out, mode: 0o600, overwrite: false)
                if let pubOut { try Files.write(Array(key.publicKey.pemRepresentation.utf8), to: pubOut) }
            }
        }
    }

    struct Pub: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the public key PEM of a private key.")
        @Option(help: "Private key PEM (PKCS#8 or SEC1).") var key: String

        func run() throws {
            try reportingUnusableInput {
                print(try SM2PrivateKey(pemRepresentation: Files.readText(key)).publicKey.pemRepresentation, terminator: "")
            }
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a file; the DER signature verifies with `openssl dgst -sm3 -verify … -sigopt distid:ID`.")
        @Option(help: "Private key PEM.") var key: String
        @Option(name: .customLong("in"), help: "File to sign.") var input: String
        @Option(help: "Where to write the DER signature.") var out: String
        @Option(help: "Distinguishing ID.") var id: String = String(decoding: SM2.defaultID, as: UTF8.self)

        func run() throws {
            try reportingUnusableInput {
                let privateKey = try SM2PrivateKey(pemRepresentation: Files.readText(key))
                let signature = try privateKey.signature(for: Files.read(input), id: Array(id.utf8))
                try Files.write(signature.derRepresentation, to: out)
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a DER signature: prints OK (exit 0) or FAILED (exit 1); unusable input exits 2.")
        @Option(help: "Public key PEM.") var pub: String
        @Option(name: .customLong("in"), help: "The signed file.") var input: String
        @Option(help: "DER signature file.") var sig: String
        @Option(help: "Distinguishing ID.") var id: String = String(decoding: SM2.defaultID, as: UTF8.self)

        func run() throws {
            var valid = false
            try reportingUnusableInput {
                let publicKey = try SM2PublicKey(pemRepresentation: Files.readText(pub))
                let signature = try SM2Signature(derRepresentation: Files.read(sig))
                valid = try publicKey.isValidSignature(signature, for: Files.read(input), id: Array(id.utf8))
            }
            print(valid ? "OK" : "FAILED")
            if !valid { throw ExitCode(1) }
        }
    }
}

struct SM4Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sm4",
        abstract: "Seal or open a file with SM4-GCM (version ‖ nonce ‖ ciphertext ‖ tag).",
        subcommands: [Seal.self, Open.self])

    struct Options: ParsableArguments {
        @Option(help: "The 16-byte key as 32 hex digits.") var keyHex: String
        @Option(name: .customLong("in"), help: "Input file.") var input: String
        @Option(help: "Output file (written only on success).") var out: String
        @Option(help: "Associated data that must match when opening (e.g. what the secret belongs to).") var aad: String = ""

        func key() throws -> [UInt8] {
            let key = try Hex.decode(keyHex)
            guard key.count == SM4.keyByteCount else {
                throw UnusableInput("--key-hex must be 32 hex digits (16 bytes), not \(key.count) bytes")
            }
            return key
        }
    }

    struct Seal: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encrypt and authenticate a file.")
        @OptionGroup var options: Options

        func run() throws {
            try reportingUnusableInput {
                let sealed = try SM4.Sealed.seal(
                    key: options.key(), plaintext: Files.read(options.input), associatedData: Array(options.aad.utf8))
                try Files.write(sealed, to: options.out)
            }
        }
    }

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt a sealed file; exit 1 and no output when it was altered or the key or --aad is wrong.")
        @OptionGroup var options: Options

        func run() throws {
            var plaintext: [UInt8]?
            try reportingUnusableInput {
                do {
                    plaintext = try SM4.Sealed.open(
                        key: options.key(), sealed: Files.read(options.input), associatedData: Array(options.aad.utf8))
                } catch let error as SMCryptoError where error.code == .authenticationFailed {
                    plaintext = nil
                }
                if let plaintext { try Files.write(plaintext, to: options.out, mode: 0o600) }
            }
            guard plaintext != nil else {
                FileHandle.standardError.write(
                    Data("orgmatrix: FAILED: the sealed file was altered, or the key or --aad is wrong\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
