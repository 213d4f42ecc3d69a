// Placeholder: the local stack launcher lands with the media pod entry point.
console.log('local stack not wired yet');
