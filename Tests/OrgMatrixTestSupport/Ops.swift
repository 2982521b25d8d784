import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a finished child process left behind.
public struct ProcessOutput: Sendable {
    public let status: Int32
    public let standardOutput: [UInt8]
    public let standardError: String

    public var text: String { String(decoding: standardOutput, as: UTF8.self) }
}

/// Runs `executable` (a path, or a name looked up on PATH) with `arguments`, feeding it
/// `standardInput`, with this process's environment plus `environment`, and waits for it.
public func runProcess(
    _ executable: String, _ arguments: [String], standardInput: [UInt8] = [], environment: [String: String] = [:]
) throws -> ProcessOutput {
    try SpawnedProcess(executable, arguments, standardInput: standardInput, environment: environment).wait()
}

/// A child process started and not yet reaped: a test can signal it (`kill`) before `wait`.
///
/// Spawns with `posix_spawnp` and reaps with `waitpid`: Foundation's `Process` on Linux can miss
/// the child's exit when called from a task, leaving the test hanging on a zombie.
public struct SpawnedProcess: Sendable {
    public let pid: pid_t
    private let base: String

    public init(_ executable: String, _ arguments: [String], standardInput: [UInt8] = [], environment: [String: String] = [:]) throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)").path
        let (inputPath, outputPath, errorPath) = (base + ".in", base + ".out", base + ".err")
        guard FileManager.default.createFile(atPath: inputPath, contents: Data(standardInput)) else {
            throw TestSetupError("cannot write \(inputPath)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let variables = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestSetupError("cannot start \(executable): errno \(spawned)") }
        self.pid = pid
    }

    /// Sends `signal` (SIGKILL: the crash a test stages).
    public func kill(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

    /// Waits for the child to end; a child ended by signal n has status 128 + n, as in a shell.
    public func wait() -> ProcessOutput {
        let (inputPath, outputPath, errorPath) = (base + ".in", base + ".out", base + ".err")
        defer { for path in [inputPath, outputPath, errorPath] { try? FileManager.default.removeItem(atPath: path) } }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return ProcessOutput(
            status: exitStatus,
            standardOutput: Array((try? Data(contentsOf: URL(fileURLWithPath: outputPath))) ?? Data()),
            standardError: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
    }
}

/// Runs one of the project's `ops/` scripts, as a newcomer would, and returns its standard output.
@discardableResult
public func runOps(_ arguments: [String]) throws -> String {
    let script = TestEnvironment.repositoryRoot.appendingPathComponent("ops").appendingPathComponent(arguments[0]).path
    let output = try runProcess(script, Array(arguments.dropFirst()))
    guard output.status == 0 else {
        throw TestSetupError("ops/\(arguments.joined(separator: " ")) failed (status \(output.status)): \(output.standardError)")
    }
    return output.text
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
