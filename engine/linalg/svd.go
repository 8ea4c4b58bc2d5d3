package linalg

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/relora-go/relora-go/engine/sched"
)

// qrBlock is the panel width of the blocked QR.
const qrBlock = 64

// SingularValues returns the min(rows, cols) singular values of the
// rows×cols row-major matrix a, largest first. a is not modified. A
// matrix with a NaN or an infinity has NaN singular values. pool may be
// nil (serial).
func SingularValues(pool *sched.Pool, rows, cols int, a []float64) []float64 {
	if rows < 0 || cols < 0 || len(a) != rows*cols {
		panic(fmt.Sprintf("linalg: %d×%d matrix with %d elements", rows, cols, len(a)))
	}
	n, m := min(rows, cols), max(rows, cols)
	if n == 0 {
		return nil
	}
	// x is the tall m×n matrix column-major: its columns are contiguous.
	// A wide a, read row by row, is its transpose already.
	x := make([]float64, m*n)
	if rows <= cols {
		copy(x, a)
	} else {
		transpose(a, rows, cols, x)
	}
	scale := 0.0
	for _, v := range x {
		scale = math.Max(scale, math.Abs(v))
	}
	out := make([]float64, n)
	switch {
	case math.IsNaN(scale) || math.IsInf(scale, 0):
		for i := range out {
			out[i] = math.NaN()
		}
		return out
	case scale == 0:
		return out
	}
	for i := range x { // entries in [-1, 1]: no overflow in the norms
		x[i] /= scale
	}
	if 5*m >= 6*n {
		qr(pool, m, n, x)
		r := make([]float64, n*n)
		for j := 0; j < n; j++ {
			copy(r[j*n:j*n+j+1], x[j*m:j*m+j+1])
		}
		x, m = r, n
	}
	d, e := bidiagonalize(pool, m, n, x)
	s := bidiagonalSingularValues(pool, d, e)
	for i := range s {
		s[i] *= scale
	}
	return s
}

// transpose writes the rows×cols row-major a into x column-major
// (x[j·rows+i] = a[i·cols+j]), in tiles.
func transpose(a []float64, rows, cols int, x []float64) {
	const t = 32
	for i0 := 0; i0 < rows; i0 += t {
		for j0 := 0; j0 < cols; j0 += t {
			for i := i0; i < min(i0+t, rows); i++ {
				for j := j0; j < min(j0+t, cols); j++ {
					x[j*rows+i] = a[i*cols+j]
				}
			}
		}
	}
}

// task adapts a function to sched.Task.
type task func(w, i int)

func (f task) Run(w, i int) { f(w, i) }

// parallel runs f(w, lo, hi) over [0, n) in chunks of at least grain
// items, on the pool when there is more than one chunk.
func parallel(pool *sched.Pool, n, grain int, f func(w, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks := min(n/max(grain, 1), 4*pool.Threads())
	if chunks <= 1 || pool.Threads() == 1 {
		f(0, 0, n)
		return
	}
	size := (n + chunks - 1) / chunks
	pool.Run((n+size-1)/size, task(func(w, i int) {
		f(w, i*size, min(n, (i+1)*size))
	}))
}

// norm2 is the Euclidean norm of x, without overflow or harmful
// underflow.
func norm2(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	if s > 1e-280 && s < 1e280 {
		return math.Sqrt(s)
	}
	scale := 0.0
	for _, v := range x {
		scale = math.Max(scale, math.Abs(v))
	}
	if scale == 0 || math.IsInf(scale, 0) {
		return scale
	}
	s = 0
	for _, v := range x {
		s += (v / scale) * (v / scale)
	}
	return scale * math.Sqrt(s)
}

// reflector makes the Householder reflector H = I − τ·v·vᵀ with
// H·x = (β, 0, …, 0): x[0] becomes β, x[1:] becomes v[1:] (v[0] = 1 is
// implied), and τ is returned. τ = 0 (H = I) when x[1:] is zero.
func reflector(x []float64) float64 {
	if len(x) <= 1 {
		return 0
	}
	xn := norm2(x[1:])
	if xn == 0 {
		return 0
	}
	alpha := x[0]
	beta := -math.Copysign(math.Hypot(alpha, xn), alpha)
	tau := (beta - alpha) / beta
	f := 1 / (alpha - beta)
	for i := 1; i < len(x); i++ {
		x[i] *= f
	}
	x[0] = beta
	return tau
}

// applyLeft applies H = I − τ·v·vᵀ (v[0] = 1 implied, v[1:] from the
// slice) to the vector c of the same length.
func applyLeft(tau float64, v, c []float64) {
	if tau == 0 {
		return
	}
	c = c[:len(v)]
	s := c[0]
	for i := 1; i < len(v); i++ {
		s += v[i] * c[i]
	}
	s *= tau
	c[0] -= s
	for i := 1; i < len(v); i++ {
		c[i] -= s * v[i]
	}
}

// dots4x2 returns the eight dot products of a0..a3 with b0, b1 (all of
// the length of a0): out[2·i+j] = aᵢ·bⱼ. Eight accumulators and six loads
// fit the fifteen vector registers Go uses on amd64.
func dots4x2(a0, a1, a2, a3, b0, b1 []float64, out *[8]float64) {
	n := len(a0)
	a1, a2, a3, b0, b1 = a1[:n], a2[:n], a3[:n], b0[:n], b1[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	for l := 0; l < n; l++ {
		x0, x1, x2, x3 := a0[l], a1[l], a2[l], a3[l]
		y0, y1 := b0[l], b1[l]
		s0 += x0 * y0
		s1 += x0 * y1
		s2 += x1 * y0
		s3 += x1 * y1
		s4 += x2 * y0
		s5 += x2 * y1
		s6 += x3 * y0
		s7 += x3 * y1
	}
	*out = [8]float64{s0, s1, s2, s3, s4, s5, s6, s7}
}

// axpy adds f·x to p.
func axpy(p []float64, f float64, x []float64) {
	x = x[:len(p)]
	for i := range p {
		p[i] += f * x[i]
	}
}

// axpy4 adds z0·c0 + z1·c1 + z2·c2 + z3·c3 to p.
func axpy4(p []float64, z0, z1, z2, z3 float64, c0, c1, c2, c3 []float64) {
	n := len(p)
	c0, c1, c2, c3 = c0[:n], c1[:n], c2[:n], c3[:n]
	for i := range p {
		p[i] += z0*c0[i] + z1*c1[i] + z2*c2[i] + z3*c3[i]
	}
}

// rightLeft2 updates two columns ca, cb: c −= f·y (the right reflector's
// rank-one update, f = τ·zⱼ), then c = (I − τ·v·vᵀ)·c (the next left
// reflector, v[0] = 1 implied).
func rightLeft2(fa, fb, tau float64, y, v, ca, cb []float64) {
	n := len(y)
	v, ca, cb = v[:n], ca[:n], cb[:n]
	ca[0] -= fa * y[0]
	cb[0] -= fb * y[0]
	sa, sb := ca[0], cb[0]
	for i := 1; i < n; i++ {
		a := ca[i] - fa*y[i]
		b := cb[i] - fb*y[i]
		ca[i], cb[i] = a, b
		sa += v[i] * a
		sb += v[i] * b
	}
	if tau == 0 {
		return
	}
	sa, sb = sa*tau, sb*tau
	ca[0] -= sa
	cb[0] -= sb
	for i := 1; i < n; i++ {
		ca[i] -= sa * v[i]
		cb[i] -= sb * v[i]
	}
}

// rightLeft4 is rightLeft2 for four columns (y and v loaded once).
func rightLeft4(f0, f1, f2, f3, tau float64, y, v, c0, c1, c2, c3 []float64) {
	n := len(y)
	v, c0, c1, c2, c3 = v[:n], c0[:n], c1[:n], c2[:n], c3[:n]
	c0[0] -= f0 * y[0]
	c1[0] -= f1 * y[0]
	c2[0] -= f2 * y[0]
	c3[0] -= f3 * y[0]
	s0, s1, s2, s3 := c0[0], c1[0], c2[0], c3[0]
	for i := 1; i < n; i++ {
		yi, vi := y[i], v[i]
		a0 := c0[i] - f0*yi
		a1 := c1[i] - f1*yi
		a2 := c2[i] - f2*yi
		a3 := c3[i] - f3*yi
		c0[i], c1[i], c2[i], c3[i] = a0, a1, a2, a3
		s0 += vi * a0
		s1 += vi * a1
		s2 += vi * a2
		s3 += vi * a3
	}
	if tau == 0 {
		return
	}
	s0, s1, s2, s3 = s0*tau, s1*tau, s2*tau, s3*tau
	c0[0] -= s0
	c1[0] -= s1
	c2[0] -= s2
	c3[0] -= s3
	for i := 1; i < n; i++ {
		vi := v[i]
		c0[i] -= s0 * vi
		c1[i] -= s1 * vi
		c2[i] -= s2 * vi
		c3[i] -= s3 * vi
	}
}

// dot is x·y over the length of x.
func dot(x, y []float64) float64 {
	y = y[:len(x)]
	s := 0.0
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}

// qr overwrites the column-major m×n x (m ≥ n) with its Householder QR
// factorisation: R on and above the diagonal, the reflectors below (not
// used afterwards).
func qr(pool *sched.Pool, m, n int, x []float64) {
	nb := qrBlock
	vc := make([]float64, m*nb) // V column-major (L×kb, columns contiguous)
	vr := make([]float64, m*nb) // V row-major (each row's kb entries contiguous)
	t := make([]float64, nb*nb) // T, upper triangular, row-major
	wt := make([]float64, n*nb) // W = Tᵀ·Vᵀ·C, one column's kb entries contiguous
	tau := make([]float64, nb)
	for k0 := 0; k0 < n; k0 += nb {
		kb := min(nb, n-k0)
		L := m - k0
		for j := k0; j < k0+kb; j++ { // the panel, unblocked
			v := x[j*m+j : (j+1)*m]
			tau[j-k0] = reflector(v)
			for c := j + 1; c < k0+kb; c++ {
				applyLeft(tau[j-k0], v, x[c*m+j:(c+1)*m])
			}
		}
		nc := n - k0 - kb
		if nc == 0 {
			break
		}
		// V with its unit diagonal and zeros above, both layouts
		for i := 0; i < kb; i++ {
			v := vc[i*L : (i+1)*L]
			clear(v[:i])
			v[i] = 1
			j := k0 + i
			copy(v[i+1:], x[j*m+j+1:(j+1)*m])
			for l := 0; l < L; l++ {
				vr[l*kb+i] = v[l]
			}
		}
		// T with H₀·…·H_{kb−1} = I − V·T·Vᵀ (forward, column by column)
		for i := 0; i < kb; i++ {
			t[i*kb+i] = tau[i]
			vi := vc[i*L+i : (i+1)*L]
			for j := 0; j < i; j++ { // t[j, i] = −τᵢ·vⱼᵀvᵢ, then T[0:i, 0:i]·that
				t[j*kb+i] = -tau[i] * dot(vi, vc[j*L+i:(j+1)*L])
			}
			for r := 0; r < i; r++ {
				s := 0.0
				for q := r; q < i; q++ {
					s += t[r*kb+q] * t[q*kb+i]
				}
				t[r*kb+i] = s
			}
		}
		// C ← (I − V·Tᵀ·Vᵀ)·C = Qᵀ·C for the trailing columns, two columns
		// at a time: W = Vᵀ·C, W = Tᵀ·W, C −= V·W
		c0 := k0 + kb
		parallel(pool, (nc+1)/2, 8, func(_, lo, hi int) {
			var acc [8]float64
			for p := lo; p < hi; p++ {
				ca := c0 + 2*p
				cb := min(ca+1, n-1) // an odd last column is done twice, harmlessly
				colA, colB := x[ca*m+k0:(ca+1)*m], x[cb*m+k0:(cb+1)*m]
				wa, wb := wt[(ca-c0)*nb:(ca-c0)*nb+kb], wt[(cb-c0)*nb:(cb-c0)*nb+kb]
				i := 0
				for ; i+4 <= kb; i += 4 {
					dots4x2(vc[i*L:(i+1)*L], vc[(i+1)*L:(i+2)*L], vc[(i+2)*L:(i+3)*L], vc[(i+3)*L:(i+4)*L], colA, colB, &acc)
					for q := 0; q < 4; q++ {
						wa[i+q], wb[i+q] = acc[2*q], acc[2*q+1]
					}
				}
				for ; i < kb; i++ {
					wa[i], wb[i] = dot(vc[i*L:(i+1)*L], colA), dot(vc[i*L:(i+1)*L], colB)
				}
				for i := kb - 1; i >= 0; i-- { // Tᵀ is lower triangular
					sa, sb := 0.0, 0.0
					for r := 0; r <= i; r++ {
						sa += t[r*kb+i] * wa[r]
						sb += t[r*kb+i] * wb[r]
					}
					wa[i], wb[i] = sa, sb
				}
				if cb == ca {
					for l := 0; l < L; l++ {
						colA[l] -= dot(vr[l*kb:(l+1)*kb], wa)
					}
					continue
				}
				l := 0
				for ; l+4 <= L; l += 4 {
					dots4x2(vr[l*kb:(l+1)*kb], vr[(l+1)*kb:(l+2)*kb], vr[(l+2)*kb:(l+3)*kb], vr[(l+3)*kb:(l+4)*kb], wa, wb, &acc)
					for q := 0; q < 4; q++ {
						colA[l+q] -= acc[2*q]
						colB[l+q] -= acc[2*q+1]
					}
				}
				for ; l < L; l++ {
					colA[l] -= dot(vr[l*kb:(l+1)*kb], wa)
					colB[l] -= dot(vr[l*kb:(l+1)*kb], wb)
				}
			}
		})
	}
}

// bidiagonalize reduces the column-major m×n a (m ≥ n) to upper
// bidiagonal form by Householder reflectors from both sides and returns
// the diagonal d (n) and the superdiagonal e (n−1). a is overwritten.
func bidiagonalize(pool *sched.Pool, m, n int, a []float64) (d, e []float64) {
	d, e = make([]float64, n), make([]float64, max(n-1, 0))
	col := func(j, from int) []float64 { return a[j*m+from : (j+1)*m] }
	y := make([]float64, m)                    // A·z for the right reflector
	z := make([]float64, n)                    // the right reflector's vector
	parts := make([][]float64, pool.Threads()) // per-worker partial sums of y
	for w := range parts {
		parts[w] = make([]float64, m)
	}
	grain := func(rows int) int { return max(1, 32768/max(rows, 1)) } // ~32K elements a chunk
	// step 0's left reflector, applied to every other column
	tauL := reflector(col(0, 0))
	d[0] = a[0]
	parallel(pool, n-1, grain(m), func(_, lo, hi int) {
		for j := 1 + lo; j < 1+hi; j++ {
			applyLeft(tauL, col(0, 0), col(j, 0))
		}
	})
	for k := 0; k < n-1; k++ {
		// right reflector from row k over columns k+1..n−1
		nz := n - k - 1
		for j := k + 1; j < n; j++ {
			z[j-k-1] = a[j*m+k]
		}
		tauR := reflector(z[:nz])
		e[k] = z[0]
		z[0] = 1
		rows := m - k - 1 // rows k+1..m−1 take part from here on
		if tauR != 0 {
			// y = A[k+1:, k+1:]·z, per-worker partial sums
			for _, p := range parts {
				clear(p[:rows])
			}
			parallel(pool, nz, grain(rows), func(w, lo, hi int) {
				p := parts[w][:rows]
				j := lo
				for ; j+4 <= hi; j += 4 {
					c := k + 1 + j
					axpy4(p, z[j], z[j+1], z[j+2], z[j+3], col(c, k+1), col(c+1, k+1), col(c+2, k+1), col(c+3, k+1))
				}
				for ; j < hi; j++ {
					axpy(p, z[j], col(k+1+j, k+1))
				}
			})
			clear(y[:rows])
			for _, p := range parts {
				for i := range y[:rows] {
					y[i] += p[i]
				}
			}
		}
		// column k+1: the right update, then the left reflector of step k+1
		first := col(k+1, k+1)
		if tauR != 0 {
			f := tauR * z[0]
			for i := range first {
				first[i] -= f * y[i]
			}
		}
		tauL = reflector(first)
		d[k+1] = first[0]
		// the other columns: the right update and the left reflector in one pass
		if tauR == 0 {
			clear(y[:rows])
		}
		parallel(pool, nz-1, grain(rows), func(_, lo, hi int) {
			j := 1 + lo
			for ; j+4 <= 1+hi; j += 4 {
				c := k + 1 + j
				rightLeft4(tauR*z[j], tauR*z[j+1], tauR*z[j+2], tauR*z[j+3], tauL, y[:rows], first,
					col(c, k+1), col(c+1, k+1), col(c+2, k+1), col(c+3, k+1))
			}
			for ; j+2 <= 1+hi; j += 2 {
				rightLeft2(tauR*z[j], tauR*z[j+1], tauL, y[:rows], first, col(k+1+j, k+1), col(k+2+j, k+1))
			}
			if j < 1+hi {
				c := col(k+1+j, k+1)
				axpy(c, -tauR*z[j], y[:rows])
				applyLeft(tauL, first, c)
			}
		})
	}
	return d, e
}

// bidiagonalSingularValues returns the singular values of the upper
// bidiagonal matrix with diagonal d and superdiagonal e, largest first, by
// bisection on its Golub-Kahan tridiagonal matrix.
func bidiagonalSingularValues(pool *sched.Pool, d, e []float64) []float64 {
	n := len(d)
	// off-diagonal of the 2n×2n tridiagonal: d₀, e₀, d₁, e₁, …, d_{n−1}
	b := make([]float64, 0, 2*n-1)
	bound := 0.0
	for i := range d {
		b = append(b, d[i])
		if i < len(e) {
			b = append(b, e[i])
		}
	}
	scale := 0.0
	for _, v := range b {
		scale = math.Max(scale, math.Abs(v))
	}
	out := make([]float64, n)
	if scale == 0 {
		return out
	}
	b2 := make([]float64, len(b))
	for i, v := range b {
		v /= scale
		b2[i] = v * v
	}
	for i := range b2 { // Gershgorin: |λ| ≤ max |b_{i−1}| + |b_i|
		s := math.Sqrt(b2[i])
		if i > 0 {
			s += math.Sqrt(b2[i-1])
		}
		bound = math.Max(bound, s)
	}
	bound *= 1 + 1e-14
	pivmin := 0x1p-1000 // far below any value that matters (the entries are ≤ 1)
	// Four bisections at once: lane q looks for the (k+q)-th largest value
	// (0-based), the sup of the x with more than k+q values ≥ x.
	const lanes = 4
	groups := (n + lanes - 1) / lanes
	parallel(pool, groups, 1, func(_, lo, hi int) {
		for g := lo; g < hi; g++ {
			var low, high, x [lanes]float64
			var done [lanes]bool
			var want [lanes]int
			for q := range lanes {
				k := g*lanes + q
				want[q] = k + 1
				high[q] = bound
				if k >= n {
					done[q] = true
				}
			}
			for iter := 0; iter < 4000; iter++ {
				active := false
				for q := range lanes {
					if !done[q] && high[q]-low[q] <= math.Max(4*0x1p-53*high[q], 0x1p-120) {
						done[q] = true
					}
					active = active || !done[q]
					x[q] = 0.5 * (low[q] + high[q])
				}
				if !active {
					break
				}
				c := atLeast4(b2, x, pivmin)
				for q := range lanes {
					if done[q] {
						continue
					}
					if c[q] >= want[q] {
						low[q] = x[q]
					} else {
						high[q] = x[q]
					}
				}
			}
			for q := range lanes {
				if k := g*lanes + q; k < n {
					out[k] = 0.5 * (low[q] + high[q]) * scale
				}
			}
		}
	})
	// the lanes are independent bisections: make the order exact
	sortDescending(out)
	return out
}

// sortDescending sorts singular values largest first.
func sortDescending(s []float64) {
	slices.SortFunc(s, func(p, q float64) int { return cmp.Compare(q, p) })
}

// atLeast4 returns, for each of four positive shifts x, the number of
// singular values ≥ x of the bidiagonal whose Golub-Kahan off-diagonal
// squares are b2: 2n minus the Sturm count of the tridiagonal's
// eigenvalues below x (the eigenvalues are ±σᵢ, so that count is
// n + #{σᵢ < x}).
func atLeast4(b2 []float64, x [4]float64, pivmin float64) [4]int {
	n2 := len(b2) + 1
	x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
	q0, q1, q2, q3 := -x0, -x1, -x2, -x3
	c0, c1, c2, c3 := 1, 1, 1, 1 // the first pivot, −x, is negative
	for _, v := range b2 {
		q0 = -x0 - v/q0
		q1 = -x1 - v/q1
		q2 = -x2 - v/q2
		q3 = -x3 - v/q3
		if math.Abs(q0) < pivmin {
			q0 = -pivmin
		}
		if math.Abs(q1) < pivmin {
			q1 = -pivmin
		}
		if math.Abs(q2) < pivmin {
			q2 = -pivmin
		}
		if math.Abs(q3) < pivmin {
			q3 = -pivmin
		}
		if q0 < 0 {
			c0++
		}
		if q1 < 0 {
			c1++
		}
		if q2 < 0 {
			c2++
		}
		if q3 < 0 {
			c3++
		}
	}
	return [4]int{n2 - c0, n2 - c1, n2 - c2, n2 - c3}
}
