import Foundation
import Histogram
import Logging
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO

/// Latencies in microseconds in an HDR histogram with 3 significant digits: a percentile is
/// within 0.1 % of the exact nearest-rank value, and rounds merge without keeping every sample.
typealias Latencies = Histogram<UInt64>

extension Histogram where Count == UInt64 {
    /// An empty one that grows to whatever it records.
    static var microseconds: Latencies { Histogram(numberOfSignificantValueDigits: .three) }

    /// `duration` as measured by a monotonic clock, so never negative.
    mutating func record(_ duration: Duration) { record(UInt64((duration / .microseconds(1)).rounded())) }

    /// Milliseconds at `percentile` (0–100); 0 when nothing was recorded.
    func milliseconds(at percentile: Double) -> Double { Double(valueAtPercentile(percentile)) / 1000 }
}

/// Milliseconds `body` took.
func milliseconds(_ body: () async throws -> Void) async throws -> Double {
    let started = ContinuousClock.now
    try await body()
    return seconds(ContinuousClock.now - started) * 1000
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// One plain connection for setup and monitoring statements.
/// A benchmark's own database: created, handed to `body`, then dropped (or kept and named, for a
/// look afterwards) whether `body` succeeded or not. A PostgreSQL error says what the server said.
func withScratchDatabase<T>(
    ownerURL: DatabaseURL, keep: Bool, logger: Logger, _ body: (ScratchDatabase.Name) async throws -> T
) async throws -> T {
    let name = try ScratchDatabase.Name(random: "bench")
    try await BenchConnection.with(ownerURL, logger) { try await ScratchDatabase.create(name, connection: $0, logger: logger) }
    let outcome: Result<T, any Error>
    do {
        outcome = .success(try await body(name))
    } catch {
        outcome = .failure(error)
    }
    do {
        if keep {
            print("kept database \(name)")
        } else {
            try await BenchConnection.with(ownerURL, logger) { try await ScratchDatabase.drop(name, connection: $0, logger: logger) }
        }
        return try outcome.get()
    } catch let error as PSQLError {
        throw BenchFailure("PostgreSQL: " + String(reflecting: error))
    }
}

enum BenchConnection {
    @discardableResult
    static func with<T>(_ url: DatabaseURL, _ logger: Logger, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// Runs another program to completion (openssl for `orgmatrix-bench crypto`, pgbench for
/// `orgmatrix-bench postings`) and returns its exit status and output.
///
/// Spawned with `posix_spawnp` and a clean signal mask, and reaped with `waitpid`. A child
/// inheriting the Swift runtime's blocked signals never sees the SIGALRM `openssl speed` stops
/// its loops with, and Foundation's `Process` on Linux can miss a child's exit when started from
/// a task.
enum ChildProcess {
    /// `executable` is a path or a name looked up on PATH; `environment` nil keeps this process's.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, includeStandardError: Bool
    ) throws -> (status: Int32, output: String) {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("orgmatrix-child-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if includeStandardError {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGALRM)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { (argv + (envp ?? [])).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = envp.map { posix_spawnp(&pid, executable, &actions, &attributes, argv, $0) }
            ?? posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw BenchFailure("cannot start \(executable): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    /// `run`, with the child's peak resident memory in KiB. Linux keeps a process's `ru_maxrss`
    /// across `execve`, and a child spawned from this process starts in its memory, so the
    /// benchmark's own size would show through; a small python3 parent runs the command and
    /// reports `RUSAGE_CHILDREN`'s `ru_maxrss` instead (the last line of the output).
    static func measured(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil
    ) throws -> (status: Int32, output: String, peakKiB: Int) {
        let script = """
            import resource, subprocess, sys
            status = subprocess.call(sys.argv[1:])
            sys.stdout.flush()
            print("peak-kib %d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            sys.exit(status)
            """
        let (status, output) = try run("python3", ["-c", script, executable] + arguments, environment: environment, includeStandardError: true)
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last == "" { lines.removeLast() }
        guard let last = lines.last, last.hasPrefix("peak-kib "), let peak = Int(last.dropFirst("peak-kib ".count)) else {
            throw BenchFailure("cannot measure \(executable)'s memory: \(output.suffix(500))")
        }
        return (status, lines.dropLast().joined(separator: "\n"), peak)
    }

    /// The same, waiting on a dispatch thread instead of a task's.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, includeStandardError: Bool
    ) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try run(executable, arguments, environment: environment, includeStandardError: includeStandardError) })
            }
        }
    }
}

/// A benchmark's tenant file and the items its seed file creates, in the seed's order.
func readTenantAndItems(tenantFile: String, seedFile: String) throws -> (TenantFile, [Item]) {
    do {
        let file = try TenantFile.decode(yaml: try String(contentsOfFile: tenantFile, encoding: .utf8))
        let seed = try SeedFile.parse(yaml: try String(contentsOfFile: seedFile, encoding: .utf8), file: seedFile)
        return (file, seed.steps.compactMap { if case .createItem(let item) = $0.action { item } else { nil } })
    } catch {
        throw BenchFailure("cannot read \(tenantFile) and \(seedFile): \(error)")
    }
}
