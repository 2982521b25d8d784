import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs one of the project's `ops/` scripts, as a newcomer would, and returns its standard output.
///
/// Spawns with `posix_spawn` and reaps with `waitpid`: Foundation's `Process` on Linux can miss the
/// child's exit when called from a task, leaving the test hanging on a zombie.
@discardableResult
public func runOps(_ arguments: [String]) throws -> String {
    let script = TestEnvironment.repositoryRoot.appendingPathComponent("ops").appendingPathComponent(arguments[0]).path
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString).out").path
    let errorPath = outputPath + ".err"
    defer {
        try? FileManager.default.removeItem(atPath: outputPath)
        try? FileManager.default.removeItem(atPath: errorPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv: [UnsafeMutablePointer<CChar>?] = ([script] + arguments.dropFirst()).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, script, &actions, nil, argv, environ)
    guard spawned == 0 else { throw TestSetupError("cannot start \(script): errno \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let stdout = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    guard status == 0 else {
        let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        throw TestSetupError("ops/\(arguments.joined(separator: " ")) failed (status \(status)): \(stderr)")
    }
    return stdout
}

/// A PostgreSQL cluster of one test's own under `.data/test-*` (ops/test destroys leftovers),
/// for tests that stop and start the server.
public struct PrivateCluster: Sendable {
    public let directory: String

    public static func with<T: Sendable>(_ body: @Sendable (PrivateCluster) async throws -> T) async throws -> T {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let cluster = PrivateCluster(
            directory: TestEnvironment.repositoryRoot.appendingPathComponent(".data/test-\(suffix)").path)
        let result: Result<T, any Error>
        do {
            try cluster.start()
            result = .success(try await body(cluster))
        } catch {
            result = .failure(error)
        }
        try runOps(["pg", "destroy", "--dir", cluster.directory])
        try? FileManager.default.removeItem(atPath: cluster.directory)
        return try result.get()
    }

    public func start() throws { try runOps(["pg", "start", "--dir", directory]) }
    public func stop() throws { try runOps(["pg", "stop", "--dir", directory]) }

    /// The cluster's URL for `key` (`DATABASE_URL`, `OWNER_DATABASE_URL`, `AUDITOR_DATABASE_URL`).
    public func url(_ key: String) throws -> String {
        let text = try String(contentsOfFile: directory + "/pg.env", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + "=") }) else {
            throw TestSetupError("\(directory)/pg.env has no \(key)")
        }
        return String(line.dropFirst(key.count + 1))
    }
}
