declare module 'abi:*' {
  const abi: readonly unknown[];
  export default abi;
}
