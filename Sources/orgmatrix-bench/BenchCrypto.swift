import ArgumentParser
import CGcrypt
import Dispatch
import Foundation
import SMCrypto
import Synchronization

/// Our SMCrypto API against raw libgcrypt calls (same library, no Z_A, no encoding, no checks)
/// and against `openssl speed` on this machine.
struct BenchCrypto: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "SM2 sign/verify per second (1 core, all cores), SM3 and SM4-GCM MB/s, beside raw libgcrypt and openssl speed.")

    @Option(help: "Seconds per measurement (1–60).") var seconds: Int = 2
    @Option(help: "Threads for the all-cores figures (default: the machine's cores).")
    var cores: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (1...60).contains(seconds) else { throw ValidationError("--seconds must be 1–60") }
        guard (1...256).contains(cores) else { throw ValidationError("--cores must be 1–256") }
    }

    func run() throws {
        let version = SMCrypto.initialize()
        print("libgcrypt \(version), \(cores) cores, \(seconds) s per figure\n")
        let duration = Duration.seconds(seconds)
        var rows: [Row] = []
        var oursPerSecond: [String: Double] = [:]

        let key = SM2PrivateKey.generate()
        let message = SMCrypto.randomBytes(32)
        let signature = try key.signature(for: message)
        let raw = try RawSM2(key: key)
        let openSSLSM2 = OpenSSLSpeed.sm2(seconds: seconds, processes: 1)
        let openSSLSM2All = OpenSSLSpeed.sm2(seconds: seconds, processes: cores)
        for threads in [1, cores] {
            let label = threads == 1 ? "1 core" : "\(threads) cores"
            let oursSign = Measure.rate(threads: threads, duration: duration) { _ = try? key.signature(for: message) }
            let rawSign = Measure.rate(threads: threads, duration: duration) { raw.sign() }
            rows.append(
                Row(
                    "SM2 sign/s", label, ours: oursSign, raw: rawSign,
                    openssl: threads == 1 ? openSSLSM2?.sign : openSSLSM2All?.sign, unit: "/s"))
            let oursVerify = Measure.rate(threads: threads, duration: duration) {
                precondition((try? key.publicKey.isValidSignature(signature, for: message)) == true)
            }
            let rawVerify = Measure.rate(threads: threads, duration: duration) { raw.verify() }
            oursPerSecond["sign \(threads)"] = oursSign
            oursPerSecond["verify \(threads)"] = oursVerify
            rows.append(
                Row(
                    "SM2 verify/s", label, ours: oursVerify, raw: rawVerify,
                    openssl: threads == 1 ? openSSLSM2?.verify : openSSLSM2All?.verify, unit: "/s"))
        }
        for size in [1 << 10, 1 << 20] {
            let data = SMCrypto.randomBytes(size)
            let label = size == 1 << 10 ? "1 KiB" : "1 MiB"
            let perSecond = Double(size) / 1_000_000
            let oursHash = Measure.rate(threads: 1, duration: duration) { _ = SM3.hash(data) } * perSecond
            let rawHash = Measure.rate(threads: 1, duration: duration) { RawSM.hash(data) } * perSecond
            rows.append(
                Row(
                    "SM3 MB/s", label, ours: oursHash, raw: rawHash, openssl: OpenSSLSpeed.sm3(seconds: seconds, bytes: size),
                    unit: " MB/s"))
            let sm4Key = SMCrypto.randomBytes(16)
            let nonce = SMCrypto.randomBytes(12)
            let oursSeal =
                Measure.rate(threads: 1, duration: duration) {
                    _ = try? SM4.GCM.encrypt(key: sm4Key, nonce: nonce, plaintext: data)
                } * perSecond
            let rawSeal =
                Measure.rate(threads: 1, duration: duration) { RawSM.gcm(key: sm4Key, nonce: nonce, data: data) } * perSecond
            rows.append(Row("SM4-GCM seal MB/s", label, ours: oursSeal, raw: rawSeal, openssl: nil, unit: " MB/s"))
        }
        Row.printTable(rows)
        print(
            """

            openssl speed: n/a for SM4-GCM (OpenSSL 3.0 has no SM4-GCM).
            Targets: SM2 ours/raw ≥ 0.90 on 1 core and all-cores ≥ 1.8 × 1-core; SM3, SM4-GCM ours/raw ≥ 0.90 at 1 MiB.
            """)
        let scale = { (operation: String) in oursPerSecond["\(operation) \(cores)"]! / oursPerSecond["\(operation) 1"]! }
        print(String(format: "Scaling of our API on %d cores: sign ×%.2f, verify ×%.2f", cores, scale("sign"), scale("verify")))
    }
}

struct Row {
    let operation: String
    let variant: String
    let ours: Double
    let raw: Double
    let openssl: Double?
    let unit: String

    init(_ operation: String, _ variant: String, ours: Double, raw: Double, openssl: Double?, unit: String) {
        (self.operation, self.variant, self.ours, self.raw, self.openssl, self.unit) = (
            operation, variant, ours, raw, openssl, unit
        )
    }

    static func printTable(_ rows: [Row]) {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        print(
            pad("operation", 19) + pad("input", 9) + pad("ours", 12) + pad("raw libgcrypt", 15) + pad("ours/raw", 10)
                + pad("openssl speed", 15) + "ours/openssl")
        for row in rows {
            let openssl = row.openssl.map { String(format: "%.0f", $0) } ?? "n/a"
            let ratio = row.openssl.map { String(format: "%.2f", row.ours / $0) } ?? "n/a"
            print(
                pad(row.operation, 19) + pad(row.variant, 9) + pad(String(format: "%.0f", row.ours), 12)
                    + pad(String(format: "%.0f", row.raw), 15) + pad(String(format: "%.2f", row.ours / row.raw), 10)
                    + pad(openssl, 15) + ratio)
        }
    }
}

enum Measure {
    /// Operations per second of `operation` run in a loop on `threads` threads for `duration`.
    static func rate(threads: Int, duration: Duration, _ operation: @escaping @Sendable () -> Void) -> Double {
        for _ in 0..<20 { operation() }
        let total = Mutex(0)
        let started = ContinuousClock.now
        let deadline = started + duration
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            var count = 0
            while ContinuousClock.now < deadline {
                operation()
                count += 1
            }
            total.withLock { $0 += count }
        }
        let elapsed = ContinuousClock.now - started
        return Double(total.withLock { $0 })
            / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

/// Raw libgcrypt SM2 calls on a prebuilt key s-expression and a fixed e.
final class RawSM2: @unchecked Sendable {
    private let privateKey: gcry_sexp_t
    private let publicKey: gcry_sexp_t
    private let digest = SMCrypto.randomBytes(32)
    private let r: [UInt8]
    private let s: [UInt8]

    init(key: SM2PrivateKey) throws {
        var privateHandle: gcry_sexp_t?
        var publicHandle: gcry_sexp_t?
        guard omx_sm2_private_key(&privateHandle, key.publicKey.x963Representation, key.rawRepresentation) == 0,
            omx_sm2_public_key(&publicHandle, key.publicKey.x963Representation) == 0,
            let privateHandle, let publicHandle
        else { throw BenchFailure("cannot build raw libgcrypt keys") }
        privateKey = privateHandle
        publicKey = publicHandle
        var r = [UInt8](repeating: 0, count: 32)
        var s = [UInt8](repeating: 0, count: 32)
        guard omx_sm2_sign(privateHandle, digest, &r, &s) == 0 else { throw BenchFailure("raw libgcrypt signing failed") }
        (self.r, self.s) = (r, s)
    }

    deinit {
        gcry_sexp_release(privateKey)
        gcry_sexp_release(publicKey)
    }

    func sign() { precondition(omx_bench_raw_sign(privateKey, digest) == 0) }
    func verify() { precondition(omx_sm2_verify(publicKey, digest, r, s) == 0) }
}

enum RawSM {
    static func hash(_ data: [UInt8]) {
        var digest = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { gcry_md_hash_buffer(Int32(GCRY_MD_SM3.rawValue), &digest, $0.baseAddress, $0.count) }
    }

    static func gcm(key: [UInt8], nonce: [UInt8], data: [UInt8]) {
        var handle: gcry_cipher_hd_t?
        var output = [UInt8](repeating: 0, count: data.count)
        var tag = [UInt8](repeating: 0, count: 16)
        precondition(gcry_cipher_open(&handle, Int32(GCRY_CIPHER_SM4.rawValue), Int32(GCRY_CIPHER_MODE_GCM.rawValue), 0) == 0)
        gcry_cipher_setkey(handle, key, key.count)
        gcry_cipher_setiv(handle, nonce, nonce.count)
        omx_cipher_final(handle)
        _ = data.withUnsafeBytes { gcry_cipher_encrypt(handle, &output, output.count, $0.baseAddress, $0.count) }
        gcry_cipher_gettag(handle, &tag, tag.count)
        gcry_cipher_close(handle)
    }
}

/// Figures from `openssl speed -mr` on this machine; nil when OpenSSL cannot measure it.
enum OpenSSLSpeed {
    static func sm2(seconds: Int, processes: Int) -> (sign: Double, verify: Double)? {
        var arguments = ["speed", "-mr", "-seconds", "\(seconds)"]
        if processes > 1 { arguments += ["-multi", "\(processes)"] }
        guard let line = run(arguments + ["sm2"]).last(where: { $0.hasPrefix("+F7:") }) else { return nil }
        let fields = line.split(separator: ":")
        guard fields.count >= 6, let sign = Double(fields[4]), let verify = Double(fields[5]) else { return nil }
        return (sign, verify)
    }

    static func sm3(seconds: Int, bytes: Int) -> Double? {
        let lines = run(["speed", "-mr", "-seconds", "\(seconds)", "-evp", "sm3", "-bytes", "\(bytes)"])
        guard let line = lines.last(where: { $0.hasPrefix("+F:") }),
            let value = line.split(separator: ":").last.flatMap({ Double($0) })
        else { return nil }
        return value / 1_000_000
    }

    private static func run(_ arguments: [String]) -> [String] {
        guard let (_, output) = try? ChildProcess.run("openssl", arguments, includeStandardError: false) else { return [] }
        return output.split(separator: "\n").map(String.init)
    }
}
