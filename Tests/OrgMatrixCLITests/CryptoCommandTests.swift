import Foundation
import OrgMatrixTestSupport
import SMCrypto
import Testing

/// `orgmatrix crypto …` as an auditor uses it, checked against plain OpenSSL.
@Suite struct CryptoCommandTests {
    private func orgmatrix(_ arguments: [String], input: [UInt8] = []) throws -> ProcessOutput {
        try runProcess(TestEnvironment.orgmatrixExecutable, ["crypto"] + arguments, standardInput: input)
    }

    private func withDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory.path)
    }

    @Test func keygenWritesAPrivateKeyOnlyTheOwnerReadsAndNeverOverwritesIt() throws {
        try withDirectory { directory in
            let (key, pub) = ("\(directory)/key.pem", "\(directory)/pub.pem")
            let generated = try orgmatrix(["sm2", "keygen", "--out", key, "--pub-out", pub])
            #expect(generated.status == 0, "\(generated.standardError)")
            let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let derived = try orgmatrix(["sm2", "pub", "--key", key])
            #expect(derived.text == (try String(contentsOfFile: pub, encoding: .utf8)))
            let original = try String(contentsOfFile: key, encoding: .utf8)
            let again = try orgmatrix(["sm2", "keygen", "--out", key])
            #expect(again.status == 2)
            #expect(again.standardError.contains("refusing to overwrite"))
            #expect(try String(contentsOfFile: key, encoding: .utf8) == original)
        }
    }

    @Test func aFileSignedByUsVerifiesWithPlainOpenSSLAndBack() throws {
        try withDirectory { directory in
            let (key, pub, file, sig) = (
                "\(directory)/k.pem", "\(directory)/p.pem", "\(directory)/export.json", "\(directory)/s.der"
            )
            try Data(#"{"block":1,"tx":["调拨"]}"#.utf8).write(to: URL(fileURLWithPath: file))
            #expect(try orgmatrix(["sm2", "keygen", "--out", key, "--pub-out", pub]).status == 0)
            #expect(try orgmatrix(["sm2", "sign", "--key", key, "--in", file, "--out", sig]).status == 0)
            let openssl = try runProcess(
                "openssl", ["dgst", "-sm3", "-verify", pub, "-sigopt", "distid:1234567812345678", "-signature", sig, file])
            #expect(openssl.text.contains("Verified OK"), "\(openssl.standardError)")

            let theirs = "\(directory)/theirs.der"
            let signed = try runProcess(
                "openssl", ["dgst", "-sm3", "-sign", key, "-sigopt", "distid:1234567812345678", "-out", theirs, file])
            #expect(signed.status == 0)
            let verified = try orgmatrix(["sm2", "verify", "--pub", pub, "--in", file, "--sig", theirs])
            #expect(verified.status == 0)
            #expect(verified.text == "OK\n")
        }
    }

    @Test func verifyFailsWithExit1OnAlterationAndExit2OnUnusableInput() throws {
        try withDirectory { directory in
            let (key, pub, file, sig) = ("\(directory)/k.pem", "\(directory)/p.pem", "\(directory)/f", "\(directory)/s.der")
            try Data("statement Q3".utf8).write(to: URL(fileURLWithPath: file))
            #expect(try orgmatrix(["sm2", "keygen", "--out", key, "--pub-out", pub]).status == 0)
            #expect(try orgmatrix(["sm2", "sign", "--key", key, "--in", file, "--out", sig, "--id", "HQ-0001"]).status == 0)

            let wrongID = try orgmatrix(["sm2", "verify", "--pub", pub, "--in", file, "--sig", sig])
            #expect(wrongID.status == 1)
            #expect(wrongID.text == "FAILED\n")
            #expect(try orgmatrix(["sm2", "verify", "--pub", pub, "--in", file, "--sig", sig, "--id", "HQ-0001"]).status == 0)

            try Data("statement Q4".utf8).write(to: URL(fileURLWithPath: file))
            let altered = try orgmatrix(["sm2", "verify", "--pub", pub, "--in", file, "--sig", sig, "--id", "HQ-0001"])
            #expect(altered.status == 1)

            try Data([0x30, 0x02, 0x02]).write(to: URL(fileURLWithPath: sig))
            let garbage = try orgmatrix(["sm2", "verify", "--pub", pub, "--in", file, "--sig", sig])
            #expect(garbage.status == 2)
            #expect(garbage.standardError.contains("truncated"))
            let missing = try orgmatrix(["sm2", "verify", "--pub", "\(directory)/none.pem", "--in", file, "--sig", sig])
            #expect(missing.status == 2)
            #expect(missing.standardError.contains("none.pem"))
        }
    }

    @Test func sm3PrintsOneLinePerFileLikeSha256sum() throws {
        try withDirectory { directory in
            let files = ["\(directory)/a", "\(directory)/b"]
            try Data("abc".utf8).write(to: URL(fileURLWithPath: files[0]))
            try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: files[1]))
            let output = try orgmatrix(["sm3"] + files)
            #expect(output.status == 0)
            let lines = output.text.split(separator: "\n").map(String.init)
            #expect(lines.first == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0  \(files[0])")
            let openssl = try runProcess("openssl", ["dgst", "-sm3", "-r", files[1]])
            #expect(lines.last == openssl.text.split(separator: " ").first.map { "\($0)  \(files[1])" })
            let missing = try orgmatrix(["sm3", "\(directory)/nope"])
            #expect(missing.status == 2)
        }
    }

    @Test func sm4SealAndOpenRoundTripAndRefuseTheWrongContext() throws {
        try withDirectory { directory in
            let key = Hex.encode(SMCrypto.randomBytes(16))
            let (plain, sealed, opened) = ("\(directory)/p", "\(directory)/s", "\(directory)/o")
            try Data("master secret of 呼和浩特牧场".utf8).write(to: URL(fileURLWithPath: plain))
            #expect(
                try orgmatrix(["sm4", "seal", "--key-hex", key, "--in", plain, "--out", sealed, "--aad", "org:ranch"]).status == 0
            )
            #expect(
                try orgmatrix(["sm4", "open", "--key-hex", key, "--in", sealed, "--out", opened, "--aad", "org:ranch"]).status
                    == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: opened)) == Data(contentsOf: URL(fileURLWithPath: plain)))

            let elsewhere = "\(directory)/o2"
            let wrong = try orgmatrix(["sm4", "open", "--key-hex", key, "--in", sealed, "--out", elsewhere, "--aad", "org:other"])
            #expect(wrong.status == 1)
            #expect(!FileManager.default.fileExists(atPath: elsewhere))
            let badKey = try orgmatrix(["sm4", "seal", "--key-hex", "abcd", "--in", plain, "--out", elsewhere])
            #expect(badKey.status == 2)
            #expect(badKey.standardError.contains("--key-hex"))
        }
    }
}
