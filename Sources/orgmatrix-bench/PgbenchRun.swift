import Foundation
import Histogram
import OrgMatrixStore

/// Runs pgbench with a script against a database as its application role, and reads its
/// throughput and, from its per-transaction log, its latencies.
struct PgbenchRun {
    struct Result {
        let transfersPerSecond: Double
        /// Per transaction, from pgbench's per-transaction log.
        let latencies: Latencies
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
            guard FileManager.default.isExecutableFile(atPath: explicit) else { throw BenchFailure("--pgbench \(explicit) is not an executable") }
            return explicit
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var candidates = path.split(separator: ":").map { "\($0)/pgbench" }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += versions.compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin/pgbench" }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw BenchFailure("pgbench not found: install Debian's postgresql package (ops/test and ops/run do) or pass --pgbench")
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
        let (status, text) = try await ChildProcess.run(executable, arguments, environment: environment, includeStandardError: true)

        let processed = text.firstMatch(of: /number of transactions actually processed: (\d+)/).flatMap { Int($0.1) }
        let tps = text.firstMatch(of: /tps = ([0-9.]+)/).flatMap { Double($0.1) }
        guard status == 0, processed == transfers, let tps else {
            throw BenchFailure("pgbench failed (exit \(status)):\n\(text.suffix(2000))")
        }
        var latencies = Latencies.microseconds
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasPrefix("log.") {
            let log = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            // client_id transaction_no time_µs script_no time_epoch time_µs_part
            for line in log.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count >= 3, let microseconds = UInt64(fields[2]) { latencies.record(microseconds) }
            }
        }
        guard latencies.totalCount == UInt64(transfers) else {
            throw BenchFailure("pgbench logged \(latencies.totalCount) transactions, expected \(transfers)")
        }
        return Result(transfersPerSecond: tps, latencies: latencies)
    }
}
