import Foundation
import OrgMatrixStore
import SMCrypto

/// A throwaway master key file for tests: 32 random hex digits, mode 0600, in the temporary
/// folder, read back through `MasterKey(contentsOfFile:)` exactly as the product reads its own.
public struct TestMasterKey: Sendable {
    public let path: String
    public let key: MasterKey

    /// One per test run, for fixtures and every test that needs a working key: the file
    /// `ORGMATRIX_MASTER_KEY_FILE` names when set (ops/test's, so a spawned `orgmatrix` that
    /// inherits the environment holds the same key as the fixtures), else a throwaway one.
    public static func shared() throws -> TestMasterKey { try sharedKey.get() }

    private static let sharedKey = Result {
        if let path = ProcessInfo.processInfo.environment[Settings.masterKeyEnvironmentKey], !path.isEmpty {
            return TestMasterKey(path: path, key: try MasterKey(contentsOfFile: path))
        }
        return try make()
    }

    /// A new key file of its own (for a test that needs a second, different key); the caller removes it.
    public static func make() throws -> TestMasterKey {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("orgmatrix-master-\(UUID().uuidString).key").path
        try write(Hex.encode(SMCrypto.randomBytes(SM4.keyByteCount)) + "\n", to: path, mode: 0o600)
        return TestMasterKey(path: path, key: try MasterKey(contentsOfFile: path))
    }

    /// Writes `text` to a new file created with `mode` (never readable by others in between).
    public static func write(_ text: String, to path: String, mode: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        else {
            throw TestSetupError("cannot write \(path)")
        }
        // createFile applies the process's umask; set the mode the test asked for exactly.
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// The environment a spawned `orgmatrix` needs to find this key.
    public var environment: [String: String] { [Settings.masterKeyEnvironmentKey: path] }
}
