import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator, used to seed ``Xoshiro256``
/// and wherever a stream must be derived from a (seed, index) pair. Inlinable, as are the draws
/// below: the trainer and the samplers draw in hot loops from other modules.
@frozen
public struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    @inlinable
    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman & Vigna 2018): the project's generator for initialisation, shuffling,
/// dropout and synthetic data. Never the system RNG, so every stream is reproducible from a seed.
@frozen
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    /// Seeds the four state words from SplitMix64, as the authors recommend.
    @inlinable
    public init(seed: UInt64) {
        var mix = SplitMix64(seed: seed)
        s0 = mix.next(); s1 = mix.next(); s2 = mix.next(); s3 = mix.next()
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }
}

extension RandomNumberGenerator {
    /// A uniform double in [0, 1) with 53 random bits (exactly representable, no rounding).
    @inlinable @inline(__always)
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform float in [0, 1) with 24 random bits.
    @inlinable @inline(__always)
    public mutating func nextUniformFloat() -> Float {
        Float(next() >> 40) * 0x1.0p-24
    }

    /// A uniform integer in 0..<bound (bound > 0), by Lemire's multiply-shift with rejection.
    @inlinable @inline(__always)
    public mutating func nextIndex(below bound: Int) -> Int {
        Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
    }
}

extension RandomNumberGenerator {
    /// A standard normal, N(0, 1), by the Box–Muller transform (one draw per call).
    @inlinable @inline(__always)
    public mutating func nextGaussian() -> Double {
        let u1 = 1 - nextUniform()  // (0, 1]: log is finite
        let u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// A standard normal float, N(0, 1) (one draw per call).
    @inlinable @inline(__always)
    public mutating func nextGaussianFloat() -> Float { Float(nextGaussian()) }
}
