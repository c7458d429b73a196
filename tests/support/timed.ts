/** Runs fn and prints how long it took, as "[suite] what took N s", whether it passed or not. */
export async function timed<T>(suite: string, what: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
        return await fn();
    } finally {
        process.stderr.write(`[${suite}] ${what} took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
}
