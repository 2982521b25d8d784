import Foundation
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ops/pg` from a checkout wherever it was cloned: a 0700 parent (root's home, `mktemp -d`)
/// and a world-searchable one. As root the server runs as `postgres`, which cannot reach a
/// 0700 home, so its files go to a folder of its own that `destroy` removes again.
@Suite struct ClusterLifecycleTests {
    @Test(arguments: [0o700, 0o755])
    func startStopStartDestroyFromAParentOfMode(_ mode: Int) async throws {
        try await withParent(mode: mode) { parent in
            let data = parent + "/clone/.data"
            try runOps(["pg", "start", "--dir", data])
            try runOps(["pg", "start", "--dir", data])  // a second start finds it running
            let ownerURL = try DatabaseURL(try envValue("OWNER_DATABASE_URL", in: data))
            try await withConnection(ownerURL) { connection in
                _ = try await connection.query("CREATE TABLE lifecycle_probe (n int)", logger: testLogger)
                _ = try await connection.query("INSERT INTO lifecycle_probe VALUES (7)", logger: testLogger)
            }
            let serverDir = try serverFolder(of: data)
            if geteuid() == 0 {
                #expect(!serverDir.hasPrefix(parent + "/"), "the server's files must be where postgres can reach them: \(serverDir)")
                #expect(try owner(of: serverDir) == "postgres")
                #expect(try permissions(of: serverDir) == 0o700)
            } else {
                #expect(serverDir == data)
            }
            #expect(FileManager.default.fileExists(atPath: serverDir + "/pgdata/PG_VERSION"))

            try runOps(["pg", "stop", "--dir", data])
            #expect(try runProcess(ops("pg"), ["status", "--dir", data]).status == 3)
            try runOps(["pg", "start", "--dir", data])
            let survived = try await withConnection(ownerURL) { connection in
                try await connection.query("SELECT n FROM lifecycle_probe", logger: testLogger).collect().first?.decode(Int.self)
            }
            #expect(survived == 7)

            try runOps(["pg", "destroy", "--dir", data])
            #expect(!FileManager.default.fileExists(atPath: serverDir))
            for name in ["pg.env", "passwords", "port", "server-dir", "pgdata"] {
                #expect(!FileManager.default.fileExists(atPath: data + "/" + name), "\(name) left after destroy")
            }
        }
    }

    /// A clone deleted without `ops/pg destroy` leaves its server folder behind; the next start
    /// of any cluster removes it once its server is gone.
    /// (As a normal user the server's files are inside the checkout and go with it.)
    @Test(.enabled(if: geteuid() == 0, "only root's clusters have a server folder outside the checkout"))
    func aServerFolderWhoseCheckoutIsGoneIsRemovedByTheNextStart() async throws {
        try await withParent(mode: 0o700) { parent in
            let gone = parent + "/deleted-clone/.data"
            try runOps(["pg", "start", "--dir", gone])
            let orphan = try serverFolder(of: gone)
            try runOps(["pg", "stop", "--dir", gone])
            try FileManager.default.removeItem(atPath: parent + "/deleted-clone")
            #expect(FileManager.default.fileExists(atPath: orphan))

            let other = parent + "/other-clone/.data"
            try runOps(["pg", "start", "--dir", other])
            #expect(!FileManager.default.fileExists(atPath: orphan))
            let kept = try serverFolder(of: other)
            #expect(FileManager.default.fileExists(atPath: kept + "/pgdata/PG_VERSION"))
            try runOps(["pg", "destroy", "--dir", other])
        }
    }

    @Test func aPathWithASpaceIsRefusedWithAClearMessage() throws {
        let run = try runProcess(ops("pg"), ["start", "--dir", NSTemporaryDirectory() + "with space/.data"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("a space?"), "\(run.standardError)")
    }

    // MARK: helpers

    private func withParent(mode: Int, _ body: (String) async throws -> Void) async throws {
        let parent = NSTemporaryDirectory() + "lifecycle-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        defer { try? FileManager.default.removeItem(atPath: parent) }
        do {
            try await body(parent)
        } catch {
            for data in (try? FileManager.default.subpathsOfDirectory(atPath: parent))?.filter({ $0.hasSuffix(".data") }) ?? [] {
                _ = try? runProcess(ops("pg"), ["destroy", "--dir", parent + "/" + data])
            }
            throw error
        }
    }

    private func ops(_ script: String) -> String {
        TestEnvironment.repositoryRoot.appendingPathComponent("ops/" + script).path
    }

    private func serverFolder(of data: String) throws -> String {
        guard let recorded = try? String(contentsOfFile: data + "/server-dir", encoding: .utf8) else { return data }
        return recorded.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func envValue(_ key: String, in data: String) throws -> String {
        let text = try String(contentsOfFile: data + "/pg.env", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + "=") }) else {
            throw TestSetupError("\(data)/pg.env has no \(key)")
        }
        return String(line.dropFirst(key.count + 1))
    }

    private func owner(of path: String) throws -> String? {
        try FileManager.default.attributesOfItem(atPath: path)[.ownerAccountName] as? String
    }

    private func permissions(of path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    }
}
