import Vocabulary

/// exp and log for the loss kernels, from range reduction and short polynomials (Cephes), built only
/// from IEEE +, −, ×, ÷, comparisons and bit operations, with no libm call and no branch. LLVM
/// vectorises loops over them, and since every operation is exactly rounded the results are
/// bit-identical on every machine and at every vector width. Accuracy: a few ulp of libm.
public enum FastMath {
    /// 1.5·2^23: adding and subtracting it rounds a float of magnitude < 2^22 to the nearest integer.
    static let roundingMagic: Float = 12_582_912

    /// e^x for any x: 0 below −87.3 (where e^x would be subnormal), +∞ above 88.7.
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let clamped = min(max(x, -87.3), 88.7)
        // k = magic + n exactly, so n also sits in k's low mantissa bits: no float→int conversion.
        let k = clamped * 1.442_695_04 + roundingMagic
        let n = k - roundingMagic
        let r = (clamped - n * 0.693_359_375) - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let expR = p * r * r + r + 1
        let scale = Float(bitPattern: (k.bitPattern &- roundingMagic.bitPattern &+ 127) &<< 23)
        let result = expR * scale
        return x < -87.3 ? 0 : (x > 88.7 ? .infinity : result)
    }

    /// log(1 + e) for e ∈ [0, 1], as 2·atanh(e / (2 + e)): accurate for tiny e as well.
    @inline(__always)
    public static func log1pUnit(_ e: Float) -> Float {
        let t = e / (e + 2)
        let s = t * t
        var p: Float = 1 / 13
        p = p * s + 1 / 11
        p = p * s + 1 / 9
        p = p * s + 1 / 7
        p = p * s + 1 / 5
        p = p * s + 1 / 3
        p = p * s + 1
        return 2 * t * p
    }

    /// log(x) for x ≥ 0 (−∞ at 0): x = m·2^k with m ∈ [√½, √2), log m = 2·atanh((m − 1)/(m + 1)).
    /// Subnormal x is treated as 0.
    @inline(__always)
    public static func log(_ x: Float) -> Float {
        let bits = x.bitPattern
        let rawMantissa = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F80_0000)
        let large = rawMantissa > 1.414_213_56
        let mantissa = large ? rawMantissa * 0.5 : rawMantissa
        let exponent = Int32(truncatingIfNeeded: bits >> 23) - (large ? 126 : 127)
        let t = (mantissa - 1) / (mantissa + 1)
        let s = t * t
        var p: Float = 1 / 9
        p = p * s + 1 / 7
        p = p * s + 1 / 5
        p = p * s + 1 / 3
        p = p * s + 1
        let result = Float(exponent) * 0.693_147_18 + 2 * t * p
        return x < 1.175_494_4e-38 ? -.infinity : result
    }

    /// x^γ for x ∈ [0, 1] and γ > 0, as exp(γ·log x) (0 at x = 0).
    @inline(__always)
    public static func power(_ x: Float, _ gamma: Float) -> Float {
        exp(log(x) * gamma)
    }
}

/// Sums over float buffers in a fixed order (eight running float sums, combined pairwise, then the
/// tail in double), so LLVM vectorises them and the result never depends on the machine.
enum FixedOrder {
    @inline(__always)
    static func sum(_ values: UnsafePointer<Float>, _ count: Int) -> Double {
        reduce(values, count) { $0 }
    }

    /// Σ values², e.g. a squared Euclidean norm (callers sum long vectors row by row in double).
    @inline(__always)
    static func sumOfSquares(_ values: UnsafePointer<Float>, _ count: Int) -> Double {
        reduce(values, count) { $0 * $0 }
    }

    @inline(__always)
    private static func reduce(_ values: UnsafePointer<Float>, _ count: Int, _ term: (Float) -> Float) -> Double {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0, s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var j = 0
        while j + 8 <= count {
            s0 += term(values[j]); s1 += term(values[j + 1]); s2 += term(values[j + 2]); s3 += term(values[j + 3])
            s4 += term(values[j + 4]); s5 += term(values[j + 5]); s6 += term(values[j + 6]); s7 += term(values[j + 7])
            j += 8
        }
        var total = Double(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))
        while j < count {
            total += Double(term(values[j]))
            j += 1
        }
        return total
    }
}
