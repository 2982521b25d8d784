import Foundation
import OrgMatrixTestSupport
import SMCrypto

/// A scratch directory for files handed to `openssl`, removed afterwards.
func withScratchDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smcrypto-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// Runs the `openssl` command line and fails the test setup when it cannot run at all.
@discardableResult
func openssl(_ arguments: [String], input: [UInt8] = []) throws -> ProcessOutput {
    try runProcess("openssl", arguments, standardInput: input)
}

/// Runs a Python snippet with the `cryptography` package (its own OpenSSL build): an SM4-GCM
/// implementation independent of libgcrypt. Arguments arrive as `sys.argv[1:]`.
func python(_ script: String, _ arguments: [String]) throws -> String {
    let output = try runProcess("python3", ["-c", script] + arguments)
    guard output.status == 0 else { throw TestFailure("python3 failed: \(output.standardError)") }
    return output.text.trimmingCharacters(in: .whitespacesAndNewlines)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func bytes(_ hex: String) -> [UInt8] { try! Hex.decode(hex.filter { !$0.isWhitespace }) }

/// Reproducible pseudo-random bytes (SplitMix64), so a failure names an input that can be rebuilt.
func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var result: [UInt8] = []
    result.reserveCapacity(count + 8)
    while result.count < count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        withUnsafeBytes(of: z.littleEndian) { result += $0 }
    }
    return Array(result.prefix(count))
}

extension URL {
    func write(_ bytes: [UInt8]) throws { try Data(bytes).write(to: self) }
    func readBytes() throws -> [UInt8] { Array(try Data(contentsOf: self)) }
}
