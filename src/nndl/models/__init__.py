"""Models written by hand for the studies (library models come from timm/torchvision/...)."""
