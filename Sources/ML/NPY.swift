import Foundation
import Vocabulary

/// A 2-D float32 matrix as stored in a NumPy `.npy` v1.0 file (`<f4`, C order).
public struct NPYMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    /// Row-major values, `rows × columns`.
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "values must hold rows × columns floats")
        self.rows = rows
        self.columns = columns
        self.values = values
    }
}

/// Reads and writes `.npy` v1.0 files of little-endian float32 in C order.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Parses an `.npy` file's bytes. `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> NPYMatrix {
        func fail(_ message: String) -> DatasetError { DatasetError(file: file, line: nil, message: message) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a .npy file (bad magic)") }
        guard bytes[6] == 1, bytes[7] == 0 else { throw fail("unsupported .npy version \(bytes[6]).\(bytes[7]); expected 1.0") }
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        guard bytes.count >= 10 + headerLength else { throw fail("truncated header") }
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header) else { throw fail("header has no 'descr'") }
        guard descr == "'<f4'" else { throw fail("dtype \(descr) is not little-endian float32 ('<f4')") }
        guard let order = field("fortran_order", in: header) else { throw fail("header has no 'fortran_order'") }
        guard order == "False" else { throw fail("Fortran order is not supported; save in C order") }
        guard let shapeText = field("shape", in: header) else { throw fail("header has no 'shape'") }
        let dimensions = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard dimensions.count == 2, let rows = Int(dimensions[0]), let columns = Int(dimensions[1]), rows >= 0, columns > 0 else {
            throw fail("shape \(shapeText) is not 2-D [examples, D]")
        }
        let dataStart = 10 + headerLength
        let expected = rows * columns * 4
        guard bytes.count - dataStart == expected else {
            throw fail("shape \(shapeText) needs \(expected) bytes of data, file has \(bytes.count - dataStart)")
        }
        var values = [Float](repeating: 0, count: rows * columns)
        values.withUnsafeMutableBytes { destination in
            bytes.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[dataStart...]))
            }
        }
        #if _endian(big)
            for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        #endif
        return NPYMatrix(rows: rows, columns: columns, values: values)
    }

    /// The value text of `'key': value` in a header dict, up to the next top-level comma.
    private static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        var depth = 0
        var value = ""
        for character in header[range.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if (character == "," && depth == 0) || character == "}" { break }
            value.append(character)
        }
        return value.trimmingCharacters(in: .whitespaces)
    }

    /// Encodes a matrix as `.npy` v1.0 bytes, header padded to a multiple of 64 as NumPy writes it.
    public static func encode(_ matrix: NPYMatrix) -> [UInt8] {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(matrix.rows), \(matrix.columns)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        matrix.values.withUnsafeBytes { bytes += $0 }
        return bytes
    }
}
