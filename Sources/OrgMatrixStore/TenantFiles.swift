import Foundation
import OrgMatrixCore
import Yams

extension TenantFile {
    /// Decodes a tenant YAML file; a decoding failure names the field path.
    public static func decode(yaml: String) throws(MatrixInvalid) -> TenantFile {
        do {
            return try YAMLDecoder().decode(TenantFile.self, from: yaml)
        } catch let error as DecodingError {
            throw MatrixInvalid([problem(error)])
        } catch {
            throw MatrixInvalid([MatrixProblem(field: "file", reason: "is not valid YAML: \(error)")])
        }
    }

    private static func problem(_ error: DecodingError) -> MatrixProblem {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { path, key in
                key.intValue.map { "\(path)[\($0)]" } ?? (path.isEmpty ? key.stringValue : "\(path).\(key.stringValue)")
            }
        }
        switch error {
        case .keyNotFound(let key, let context): return MatrixProblem(field: path(context.codingPath + [key]), reason: "is required")
        case .typeMismatch(let type, let context): return MatrixProblem(field: path(context.codingPath), reason: "must be \(type)")
        case .valueNotFound(let type, let context): return MatrixProblem(field: path(context.codingPath), reason: "must be \(type), not null")
        case .dataCorrupted(let context): return MatrixProblem(field: path(context.codingPath), reason: context.debugDescription)
        @unknown default: return MatrixProblem(field: "file", reason: "cannot be decoded")
        }
    }
}
