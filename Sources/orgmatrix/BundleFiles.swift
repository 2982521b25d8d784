import CSystemCalls
import Foundation
import Synchronization
import OrgMatrixCore
import SMCrypto

/// Writes an exported bundle (docs/LEDGER.md, "The exported bundle") file by file, each file's
/// manifest line appended as it is written, so the export holds one page of the ledger at a time.
/// Called from one task at a time (the export's pages come in order).
final class BundleWriter: @unchecked Sendable {
    let root: URL
    private let manifest: FileHandle
    /// Every manifest line written so far, hashed as it goes: the manifest's seal.
    private var manifestDigest: SM3Hasher? = SM3Hasher()
    /// The directory the last file went into: an evidence directory's files are written one
    /// after another, so remembering one keeps the writer's memory flat however long the ledger.
    private var lastDirectory: String?
    private(set) var filesWritten = 0
    /// Whether the export made `root` (so a failed export removes it, rather than only its contents).
    private let createdRoot: Bool

    /// Creates `root` (which must not exist, or be an empty directory).
    init(root path: String) throws {
        root = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true else {
                throw UnusableInput("--out \(path) exists and is not an empty directory")
            }
            createdRoot = false
        } else {
            createdRoot = true
            do {
                try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            } catch { throw UnusableInput("cannot create \(path): \((error as NSError).localizedDescription)") }
        }
        let manifestPath = root.appendingPathComponent(LedgerBundle.manifest).path
        guard FileManager.default.createFile(atPath: manifestPath, contents: nil),
            let handle = FileHandle(forWritingAtPath: manifestPath)
        else { throw UnusableInput("cannot write \(manifestPath)") }
        manifest = handle
    }

    /// Writes `bytes` at the bundle path `path` and lists it in the manifest.
    func write(_ bytes: [UInt8], at path: String, mode: Int = 0o644) throws {
        precondition(LedgerBundle.isBundlePath(path), "the exporter writes bundle paths only")
        let url = root.appendingPathComponent(path)
        let directory = url.deletingLastPathComponent().path
        if directory != lastDirectory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch { throw UnusableInput("cannot create \(directory): \((error as NSError).localizedDescription)") }
            lastDirectory = directory
        }
        try Self.create(url.path, bytes, mode: mode)
        let line = Array(LedgerBundle.manifestLine(path: path, sm3: SM3.hash(bytes)).utf8)
        manifestDigest!.update(line)
        manifestPending += line
        if manifestPending.count >= Self.manifestFlushBytes { try flushManifest() }
        filesWritten += 1
    }

    /// Manifest lines kept and not yet written: one write a megabyte, not one a file.
    private var manifestPending: [UInt8] = []
    private static let manifestFlushBytes = 1 << 20

    private func flushManifest() throws {
        try manifest.write(contentsOf: manifestPending)
        manifestPending.removeAll(keepingCapacity: true)
    }

    /// A new file with exactly `mode`, written with plain system calls. Not Foundation's
    /// `createFile`, which writes a temporary file, renames it and syncs each file to disk: a
    /// million transactions are four million files, and `seal()` syncs them all at once.
    private static func create(_ path: String, _ bytes: [UInt8], mode: Int) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard descriptor >= 0 else { throw UnusableInput("cannot write \(path): \(String(cString: strerror(errno)))") }
        var failure: Int32 = fchmod(descriptor, mode_t(mode)) == 0 ? 0 : errno
        var done = 0
        while failure == 0, done < bytes.count {
            let wrote = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, $0.count - done) }
            if wrote > 0 { done += wrote } else if wrote < 0, errno == EINTR { continue } else { failure = wrote < 0 ? errno : EIO }
        }
        if close(descriptor) != 0, failure == 0 { failure = errno }
        guard failure == 0 else { throw UnusableInput("cannot write \(path): \(String(cString: strerror(failure)))") }
    }

    /// Removes what a failed export wrote: a half-written bundle is no bundle.
    func discard() {
        try? manifest.close()
        if createdRoot {
            try? FileManager.default.removeItem(at: root)
        } else {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] {
                try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
            }
        }
    }

    /// Writes the manifest's last line, its own digest, and closes it, once every other file is
    /// on disk (`syncfs`, which also reports a write that failed on its way to the disk: the
    /// files were written without a sync each), and the manifest after them.
    func seal() throws {
        guard let hasher = manifestDigest.take() else { preconditionFailure("a bundle is sealed once") }
        let digest = Hex.encode(hasher.finalize())
        try flushManifest()
        guard omx_syncfs(manifest.fileDescriptor) == 0 else {
            throw UnusableInput("cannot write \(root.path) to disk: \(String(cString: strerror(errno)))")
        }
        try manifest.write(contentsOf: Data("\(digest)  \(LedgerBundle.manifest)\n".utf8))
        try manifest.synchronize()
        try manifest.close()
    }
}

/// The scripts a bundle carries (`Sources/orgmatrix/Bundle`), from the resources built beside
/// the executable.
enum BundleScripts {
    static let names = ["verify.py", "verify-with-openssl.sh", "README.txt"]

    static func read(_ name: String) throws -> [UInt8] {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            executable.deletingLastPathComponent().appendingPathComponent("OrgMatrix_orgmatrix.resources/Bundle/\(name)"),
            executable.deletingLastPathComponent().appendingPathComponent("OrgMatrix_orgmatrix.resources/\(name)"),
        ]
        for candidate in candidates {
            if let data = FileManager.default.contents(atPath: candidate.path) { return Array(data) }
        }
        throw UnusableInput(
            "the bundle's \(name) is not beside the executable (\(candidates[0].path)): run the orgmatrix that `swift build` made")
    }
}

/// Reads a bundle's files for the offline verifier, each checked against the SM3 the manifest
/// lists for it; what is missing or differs is a failure naming the file.
struct BundleReader: Sendable {
    let root: URL

    init(root path: String) { root = URL(fileURLWithPath: path) }

    /// The manifest's lines, streamed (the manifest of a million transactions is half a gigabyte).
    func manifestLines() throws -> ManifestLines {
        guard let handle = FileHandle(forReadingAtPath: root.appendingPathComponent(LedgerBundle.manifest).path) else {
            throw UnusableInput("\(root.path) holds no readable \(LedgerBundle.manifest): it is not a bundle")
        }
        return ManifestLines(handle: handle)
    }

    /// The bytes at `path` and, when they are missing or differ from `sm3`, the failure naming it.
    func read(_ path: String, sm3: [UInt8]) -> (bytes: [UInt8]?, failure: LedgerVerificationFailure?) {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path) else {
            return (nil, .init(.bundleFileMismatch, field: path, expected: "the file manifest.sm3 lists", found: "no readable file"))
        }
        let bytes = Array(data)
        let digest = SM3.hash(bytes)
        guard digest == sm3 else {
            return (
                bytes,
                .init(
                    .bundleFileMismatch, field: path, expected: "SM3 \(Hex.encode(sm3)) (manifest.sm3)",
                    found: "SM3 \(Hex.encode(digest))")
            )
        }
        return (bytes, nil)
    }

    /// Every file under the root but the manifest whose path `isListed` rejects (anything that
    /// is not a directory: a link, a pipe, is named too), and every directory that cannot be
    /// read. Walked with `readdir`, whose entries say their type: a million transactions are
    /// five million entries.
    func unlistedFiles(isListed: (String) -> Bool) -> [LedgerVerificationFailure] {
        var failures: [LedgerVerificationFailure] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let (entries, failure) = Self.entries(of: relative.isEmpty ? root.path : "\(root.path)/\(relative)")
            if let failure {
                failures.append(
                    .init(.bundleFileMismatch, field: relative.isEmpty ? "." : relative + "/", expected: "a readable directory", found: failure))
            }
            for (name, isDirectory) in entries {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                if isDirectory {
                    pending.append(path)
                } else if path != LedgerBundle.manifest, !isListed(path) {
                    failures.append(
                        .init(.bundleFileMismatch, field: path, expected: "every file listed in manifest.sm3", found: "a file it does not list"))
                }
            }
        }
        return failures
    }

    /// The entries of one directory and whether each is a directory (a link is not), read
    /// whole and the directory closed before any is descended into; or why it cannot be read.
    private static func entries(of path: String) -> (entries: [(name: String, isDirectory: Bool)], failure: String?) {
        guard let directory = opendir(path) else { return ([], String(cString: strerror(errno))) }
        defer { closedir(directory) }
        var entries: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            if name == "." || name == ".." { continue }
            var isDirectory = Int32(entry.pointee.d_type) == DT_DIR
            if Int32(entry.pointee.d_type) == DT_UNKNOWN {
                var status = stat()
                isDirectory = lstat("\(path)/\(name)", &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
            }
            entries.append((name, isDirectory))
        }
        return (entries, nil)
    }
}

/// A manifest's lines one at a time, without their line breaks, read a megabyte at a time; the
/// last line comes with `isLast` (one lookahead), a last line with no line break with `unterminated`.
struct ManifestLines {
    struct Line {
        let bytes: [UInt8]
        let isLast: Bool
        let unterminated: Bool
    }

    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var pending: [UInt8]?
    private var queued: [Line] = []
    private var atEnd = false

    init(handle: FileHandle) { self.handle = handle }

    mutating func next() throws -> Line? {
        while true {
            if !queued.isEmpty { return queued.removeFirst() }
            if atEnd { return nil }
            if let end = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[position..<end])
                position = end + 1
                let previous = pending
                pending = line
                if let previous { return Line(bytes: previous, isLast: false, unterminated: false) }
                continue
            }
            buffer.removeFirst(position)
            position = 0
            if let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                buffer += chunk
                continue
            }
            atEnd = true
            try? handle.close()
            if buffer.isEmpty {
                if let pending { queued.append(Line(bytes: pending, isLast: true, unterminated: false)) }
            } else {
                if let pending { queued.append(Line(bytes: pending, isLast: false, unterminated: false)) }
                queued.append(Line(bytes: buffer, isLast: true, unterminated: true))
            }
            pending = nil
        }
    }
}

/// verify-bundle's spool for the transfer figure checks (`LedgerBodySpool`): the transactions
/// they keep until the report, appended to a temporary file under $TMPDIR that is unlinked as
/// soon as it is open (so it goes when the process does, however it ends), written a megabyte at
/// a time. An I/O failure is kept in `failure`: the command then gives no verdict.
final class BundleFileSpool: LedgerBodySpool {
    private struct State {
        let descriptor: Int32
        /// Bytes kept and not yet written.
        var pending: [UInt8] = []
        /// What the file holds.
        var written: Int64 = 0
        var failure: String?
    }

    private static let flushBytes = 1 << 20
    private let state: Mutex<State>

    init() throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/orgmatrix-verify-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard descriptor >= 0 else { throw UnusableInput("cannot create a temporary file \(path): \(String(cString: strerror(errno)))") }
        unlink(path)
        state = Mutex(State(descriptor: descriptor))
    }

    deinit { state.withLock { _ = close($0.descriptor) } }

    /// Why the spool could not keep or read back what it was given, if it could not.
    var failure: String? { state.withLock { $0.failure } }

    func keep(_ bytes: [UInt8]) -> LedgerSpoolHandle {
        state.withLock { state in
            let handle = LedgerSpoolHandle(offset: state.written + Int64(state.pending.count), count: Int32(clamping: bytes.count))
            guard state.failure == nil else { return handle }
            state.pending += bytes
            if state.pending.count >= Self.flushBytes { Self.flush(&state) }
            return handle
        }
    }

    func bytes(_ handle: LedgerSpoolHandle) -> [UInt8] {
        state.withLock { state in
            if handle.offset + Int64(handle.count) > state.written { Self.flush(&state) }
            var bytes = [UInt8](repeating: 0, count: Int(handle.count))
            let read = bytes.withUnsafeMutableBytes { pread(state.descriptor, $0.baseAddress, $0.count, off_t(handle.offset)) }
            if read != Int(handle.count), state.failure == nil {
                state.failure = "cannot read back the temporary file: " + (read < 0 ? String(cString: strerror(errno)) : "short read")
            }
            return bytes
        }
    }

    private static func flush(_ state: inout State) {
        var done = 0
        while done < state.pending.count {
            let wrote = state.pending.withUnsafeBytes {
                pwrite(state.descriptor, $0.baseAddress! + done, $0.count - done, off_t(state.written) + off_t(done))
            }
            if wrote < 0, errno == EINTR { continue }
            guard wrote > 0 else {
                if state.failure == nil { state.failure = "cannot write the temporary file: \(String(cString: strerror(errno)))" }
                return
            }
            done += wrote
        }
        state.written += Int64(done)
        state.pending.removeAll(keepingCapacity: true)
    }
}
