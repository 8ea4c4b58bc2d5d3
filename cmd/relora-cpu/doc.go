// Command relora-cpu trains LLaMA models with ReLoRA on the CPU.
//
// Run "relora-cpu help" for the list of commands.
package main
