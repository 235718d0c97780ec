import Testing
import Vocabulary

@testable import ML

@Suite struct BLASTests {
    /// Naive row-major op(A)·op(B) for checking sgemm.
    func naive(
        _ transA: BLAS.Transpose, _ transB: BLAS.Transpose, m: Int, n: Int, k: Int,
        a: [Float], lda: Int, b: [Float], ldb: Int
    ) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += Double(av) * Double(bv)
                }
                c[i * n + j] = sum
            }
        }
        return c
    }

    static let shapes = [(1, 1, 1), (3, 7, 5), (33, 17, 65)]
    static let transposes: [(BLAS.Transpose, BLAS.Transpose)] = [
        (.none, .none), (.none, .transpose), (.transpose, .none), (.transpose, .transpose),
    ]

    @Test(arguments: shapes, 0..<4)
    func sgemmMatchesNaiveLoops(shape: (Int, Int, Int), transposeIndex: Int) {
        let (m, n, k) = shape
        let (transA, transB) = Self.transposes[transposeIndex]
        var rng = SplitMix64(seed: UInt64(m * 1000 + n * 10 + transposeIndex))
        // Stored shapes, with a padded leading dimension to check lda/ldb/ldc are honoured.
        let (aRows, aCols) = transA == .none ? (m, k) : (k, m)
        let (bRows, bCols) = transB == .none ? (k, n) : (n, k)
        let lda = aCols + 3, ldb = bCols + 2, ldc = n + 1
        let a = (0..<(aRows * lda)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let b = (0..<(bRows * ldb)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        var c = (0..<(m * ldc)).map { _ in Float(rng.nextUniform()) }
        let c0 = c
        let alpha: Float = 0.75, beta: Float = -0.5
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(
                        transA, transB, m: m, n: n, k: k, alpha: alpha, a: a.baseAddress!, lda: lda,
                        b: b.baseAddress!, ldb: ldb, beta: beta, c: c.baseAddress!, ldc: ldc)
                }
            }
        }
        let product = naive(transA, transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb)
        for i in 0..<m {
            for j in 0..<n {
                let expected = Double(alpha) * product[i * n + j] + Double(beta) * Double(c0[i * ldc + j])
                #expect(abs(Double(c[i * ldc + j]) - expected) < 1e-4, "C[\(i),\(j)]")
            }
            // The padding column is untouched.
            #expect(c[i * ldc + n] == c0[i * ldc + n])
        }
    }

    @Test func levelOneRoutines() {
        var x: [Float] = [1, -2, 3, 0.5]
        var y: [Float] = [4, 5, -6, 2]
        #expect(BLAS.sdot(count: 4, x: x, y: y) == 4 - 10 - 18 + 1)
        #expect(abs(BLAS.snrm2(count: 4, x: x) - (1 + 4 + 9 + 0.25 as Float).squareRoot()) < 1e-6)
        BLAS.saxpy(count: 4, alpha: 2, x: x, y: &y)
        #expect(y == [6, 1, 0, 3])
        BLAS.sscal(count: 4, alpha: -1, x: &x)
        #expect(x == [-1, 2, -3, -0.5])
        var out: [Float] = [1, 1]
        // [[1,2],[3,4]]·[1,-1] = [-1,-1]; ·2 + 1·out
        BLAS.sgemv(.none, m: 2, n: 2, alpha: 2, a: [1, 2, 3, 4], lda: 2, x: [1, -1], beta: 1, y: &out)
        #expect(out == [-1, -1])
        BLAS.sgemv(.transpose, m: 2, n: 2, alpha: 1, a: [1, 2, 3, 4], lda: 2, x: [1, -1], beta: 0, y: &out)
        #expect(out == [-2, -2])
    }

    @Test func threadCountAndCoreName() {
        // The thread count is process-wide and other tests run at the same time with one BLAS
        // thread (as the trainer sets it), so this only sets and checks that value; raising it here
        // once changed a concurrently running model test's sums. Nothing sets it before this
        // test but `BLAS` itself, on its first use.
        #expect(BLAS.threads == 1)
        BLAS.setThreads(1)
        #expect(BLAS.threads == 1)
        BLAS.setThreads(0)  // clamped to 1
        #expect(BLAS.threads == 1)
        #expect(!BLAS.coreName.isEmpty && BLAS.coreName != "unknown")
    }
}
