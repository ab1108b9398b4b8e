/* The compute kernel benchmarked under the sandbox and natively (same source, -O2):
 * a dense matrix product, a sieve and an integer hash loop. Prints a checksum so nothing
 * is optimised away. Argument: matrix size (default 400). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 400;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n);
    double *c = calloc((size_t)n * n, sizeof(double));
    if (!a || !b || !c) return 2;
    for (int i = 0; i < n * n; i++) {
        a[i] = (double)(i % 17) / 7.0;
        b[i] = (double)(i % 13) / 5.0;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double x = a[i * n + k];
            for (int j = 0; j < n; j++) c[i * n + j] += x * b[k * n + j];
        }
    double sum = 0;
    for (int i = 0; i < n * n; i++) sum += c[i];

    int limit = n * 20000;
    char *composite = calloc((size_t)limit + 1, 1);
    if (!composite) return 2;
    int primes = 0;
    for (int i = 2; i <= limit; i++) {
        if (composite[i]) continue;
        primes++;
        for (int64_t j = (int64_t)i * i; j <= limit; j += i) composite[j] = 1;
    }

    uint64_t h = 1469598103934665603ULL;
    for (int64_t i = 0; i < (int64_t)n * 500000; i++) {
        h ^= (uint64_t)i;
        h *= 1099511628211ULL;
        h ^= h >> 29;
    }
    printf("%.3f %d %llu\n", sum, primes, (unsigned long long)h);
    return 0;
}
