import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import OrgMatrixStore

/// Runs pgbench with a script against a database as its application role, and reads its
/// throughput and, from its per-transaction log, its latencies.
struct PgbenchRun {
    struct Result {
        let transfersPerSecond: Double
        /// Milliseconds per transaction, from pgbench's per-transaction log.
        let latencies: [Double]
    }

    /// pgbench's threads: one per core, at most one per client.
    static func threads(clients: Int) -> Int { max(1, min(clients, ProcessInfo.processInfo.activeProcessorCount)) }

    let executable: String
    let url: DatabaseURL
    let clients: Int
    let transfers: Int

    /// `pgbench` on PATH, else the newest server's own copy.
    static func locate(_ explicit: String?) throws -> String {
        if let explicit {
            guard FileManager.default.isExecutableFile(atPath: explicit) else { throw UnusableInput("--pgbench \(explicit) is not an executable") }
            return explicit
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var candidates = path.split(separator: ":").map { "\($0)/pgbench" }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += versions.compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin/pgbench" }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw UnusableInput("pgbench not found: install Debian's postgresql package (ops/test and ops/run do) or pass --pgbench")
        }
        return found
    }

    func run(script: PostingsScript, variables: [String: String]) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orgmatrix-pgbench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptFile = directory.appendingPathComponent("transfer.sql")
        try script.text.write(to: scriptFile, atomically: true, encoding: .utf8)
        let threads = Self.threads(clients: clients)
        var arguments = [
            "--no-vacuum", "--protocol=extended", "--client=\(clients)", "--jobs=\(threads)", "--transactions=\(transfers / clients)",
            "--file=\(scriptFile.path)", "--log", "--log-prefix=\(directory.appendingPathComponent("log").path)",
            "--host=\(url.host)", "--port=\(url.port)", "--username=\(url.username)",
        ]
        for (name, value) in variables.sorted(by: { $0.key < $1.key }) { arguments.append("--define=\(name)=\(value)") }
        arguments.append(url.database)

        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = url.password
        environment["PGSSLMODE"] = "disable"
        let (status, text) = try await ChildProcess.run(executable, arguments, environment: environment)

        let processed = text.firstMatch(of: /number of transactions actually processed: (\d+)/).flatMap { Int($0.1) }
        let tps = text.firstMatch(of: /tps = ([0-9.]+)/).flatMap { Double($0.1) }
        guard status == 0, processed == transfers, let tps else {
            throw SettingsError("pgbench failed (exit \(status)):\n\(text.suffix(2000))")
        }
        var latencies: [Double] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasPrefix("log.") {
            let log = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            // client_id transaction_no time_µs script_no time_epoch time_µs_part
            for line in log.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count >= 3, let micros = Double(fields[2]) { latencies.append(micros / 1000) }
            }
        }
        guard latencies.count == transfers else {
            throw SettingsError("pgbench logged \(latencies.count) transactions, expected \(transfers)")
        }
        return Result(transfersPerSecond: tps, latencies: latencies)
    }
}

/// Runs a program to completion with its output (standard output and error together) captured.
///
/// Spawned with `posix_spawn` and reaped with `waitpid` on a dispatch thread: Foundation's
/// `Process` on Linux can miss a child's exit when started from a task.
enum ChildProcess {
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("orgmatrix-child-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw SettingsError("cannot start \(executable): errno \(spawned)") }
        let child = pid
        let status = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(child, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
            }
        }
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }
}
