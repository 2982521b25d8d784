import Synchronization

/// Where the transfer figure checks keep the transactions they read until `check()`: a
/// transfer's events may come in any chunk, so each is kept whole, but in a spool rather than
/// parsed, so the verifier's memory need not grow with the bodies. The Core keeps them in memory
/// (`LedgerMemorySpool`); `verify-bundle` gives one backed by a temporary file, so a bundle of
/// a million transfers is verified in little memory.
public protocol LedgerBodySpool: AnyObject, Sendable {
    /// Keeps `bytes`; the handle reads them back.
    func keep(_ bytes: [UInt8]) -> LedgerSpoolHandle
    /// The bytes kept under `handle`. A spool that cannot read them back says so where its
    /// caller can see it (the file spool's `failure`): the report is then not a verdict.
    func bytes(_ handle: LedgerSpoolHandle) -> [UInt8]
}

/// Where a spool kept one piece: its offset and length.
public struct LedgerSpoolHandle: Sendable, Hashable {
    public let offset: Int64
    public let count: Int32

    public init(offset: Int64, count: Int32) { (self.offset, self.count) = (offset, count) }
}

/// The spool of the online verifier and the tests: the bytes in memory, compact (one buffer
/// per transaction, not its parsed tree).
public final class LedgerMemorySpool: LedgerBodySpool {
    private let pieces = Mutex<[[UInt8]]>([])

    public init() {}

    public func keep(_ bytes: [UInt8]) -> LedgerSpoolHandle {
        pieces.withLock { pieces in
            pieces.append(bytes)
            return LedgerSpoolHandle(offset: Int64(pieces.count - 1), count: Int32(clamping: bytes.count))
        }
    }

    public func bytes(_ handle: LedgerSpoolHandle) -> [UInt8] {
        pieces.withLock { $0[Int(handle.offset)] }
    }
}
