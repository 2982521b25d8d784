import OrgMatrixCore
import Testing

@Suite struct MigrationPlanTests {
    private func file(_ name: String, _ sql: String = "SELECT 1;") throws -> MigrationFile {
        try MigrationFile(fileName: name, sql: sql)
    }

    @Test(arguments: ["0001_foundation.sql", "0042_stock_moves_2.sql"])
    func acceptsNumberedSnakeCaseNames(name: String) throws {
        let migration = try file(name)
        #expect(migration.name == name)
        #expect(migration.checksum.hasPrefix("sm3:"))
        #expect(migration.checksum.count == "sm3:".count + 64)
    }

    /// GB/T 32905-2016 appendix A.1: SM3("abc"); the checksum is the file's SM3.
    @Test func theChecksumIsTheSM3OfTheFile() throws {
        #expect(try file("0001_a.sql", "abc").checksum == "sm3:66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    }

    @Test(arguments: ["1_a.sql", "0001-a.sql", "0001_A.sql", "0001_.sql", "0001_a.SQL", "abcd_a.sql", "0001_a b.sql"])
    func rejectsOtherNames(name: String) {
        #expect(throws: MigrationError.invalidFileName(name)) { try file(name) }
    }

    @Test func pendingFilesComeInNumericOrder() throws {
        let files = [try file("0003_c.sql"), try file("0001_a.sql"), try file("0002_b.sql")]
        let applied = [AppliedMigration(name: "0001_a.sql", checksum: files[1].checksum)]
        #expect(try MigrationPlan.pending(files: files, applied: applied).map(\.name) == ["0002_b.sql", "0003_c.sql"])
    }

    @Test func nothingIsPendingWhenAllAreApplied() throws {
        let files = [try file("0001_a.sql"), try file("0002_b.sql")]
        let applied = files.map { AppliedMigration(name: $0.name, checksum: $0.checksum) }
        #expect(try MigrationPlan.pending(files: files, applied: applied).isEmpty)
        #expect(MigrationState.of(files: files, applied: applied) == .current(appliedCount: 2))
    }

    @Test func anEditedAppliedFileIsRefusedByName() throws {
        let original = try file("0001_a.sql", "CREATE TABLE a ();")
        let edited = try file("0001_a.sql", "CREATE TABLE a (x int);")
        let applied = [AppliedMigration(name: original.name, checksum: original.checksum)]
        #expect(
            throws: MigrationError.edited(name: "0001_a.sql", appliedChecksum: original.checksum, fileChecksum: edited.checksum)
        ) { try MigrationPlan.pending(files: [edited], applied: applied) }
    }

    @Test func anAppliedMigrationWithoutAFileIsRefused() throws {
        let applied = [AppliedMigration(name: "0009_newer.sql", checksum: "sm3:00")]
        #expect(throws: MigrationError.unknownApplied(name: "0009_newer.sql")) {
            try MigrationPlan.pending(files: [try file("0001_a.sql")], applied: applied)
        }
    }

    @Test func aPendingFileBelowTheLatestAppliedIsRefused() throws {
        let files = [try file("0001_a.sql"), try file("0002_b.sql")]
        let applied = [AppliedMigration(name: "0002_b.sql", checksum: files[1].checksum)]
        #expect(throws: MigrationError.outOfOrder(name: "0001_a.sql", latestApplied: "0002_b.sql")) {
            try MigrationPlan.pending(files: files, applied: applied)
        }
    }

    @Test func twoFilesWithOneNumberAreRefused() throws {
        let files = [try file("0001_a.sql"), try file("0001_b.sql")]
        #expect(throws: MigrationError.duplicateVersion(1, ["0001_a.sql", "0001_b.sql"])) {
            try MigrationPlan.pending(files: files, applied: [])
        }
    }

    @Test func stateReportsPendingNamesAndInconsistency() throws {
        let files = [try file("0001_a.sql"), try file("0002_b.sql")]
        #expect(MigrationState.of(files: files, applied: []) == .pending(["0001_a.sql", "0002_b.sql"]))
        let wrong = [AppliedMigration(name: "0001_a.sql", checksum: "sm3:ff")]
        guard case .inconsistent(.edited(let name, _, _)) = MigrationState.of(files: files, applied: wrong) else {
            Issue.record("expected an edited-file inconsistency")
            return
        }
        #expect(name == "0001_a.sql")
    }
}
